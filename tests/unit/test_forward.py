"""Inference set-up (textclass.inference.forward): which weights run in which precision."""

import torch
from transformers import AutoModelForSequenceClassification

from textclass.inference.forward import inference_model
from textclass.models.build import quiet_transformers


def test_inference_model_casts_transformers_to_bf16_only_on_cpu_bf16(tiny_model_dir):
    cpu = torch.device("cpu")
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir)
    assert inference_model(model, "fp32", cpu) == "fp32"
    assert next(model.parameters()).dtype == torch.float32
    assert inference_model(model, "bf16", cpu) == "bf16-weights"
    assert next(model.parameters()).dtype == torch.bfloat16
