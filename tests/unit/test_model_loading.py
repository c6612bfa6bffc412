"""Loading weights: a trained model loads whole or fails naming what does not fit; a pretrained
encoder may only gain a fresh head; the saved tokenizer truncates at the run's max_length."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import textclass
from textclass.config.schema import ModelConfig
from textclass.models.build import build_model, build_tokenizer, quiet_transformers

LOST = "bert.encoder.layer.1.output.dense.weight"


def _edit_weights(source: Path, dest: Path, edit) -> Path:
    """A copy of the model directory `source` whose safetensors went through `edit`."""
    shutil.copytree(source, dest)
    weights = load_file(dest / "model.safetensors")
    edit(weights)
    save_file(weights, dest / "model.safetensors", metadata={"format": "pt"})
    return dest


def _load(path: Path):
    return textclass.Classifier.load(path, device="cpu", precision="fp32")


def test_an_intact_model_directory_loads(tiny_model_dir):
    clf = _load(tiny_model_dir)
    assert len(clf.predict(["fine"])) == 1


def test_a_lost_tensor_is_an_error_naming_it(tiny_model_dir, tmp_path):
    # Before: transformers initialised the lost tensor at random, silently (the warning muted).
    damaged = _edit_weights(tiny_model_dir, tmp_path / "model", lambda w: w.pop(LOST))
    with pytest.raises(textclass.TextclassError, match="missing") as err:
        _load(damaged)
    message = str(err.value)
    assert LOST in message and str(damaged) in message and "copy the whole model" in message


def test_an_extra_tensor_is_an_error_naming_it(tiny_model_dir, tmp_path):
    def add(weights):
        weights["bert.encoder.layer.2.output.dense.weight"] = torch.zeros(32, 64)

    damaged = _edit_weights(tiny_model_dir, tmp_path / "model", add)
    with pytest.raises(textclass.TextclassError, match="not in the model") as err:
        _load(damaged)
    assert "bert.encoder.layer.2.output.dense.weight" in str(err.value)


def test_a_reshaped_tensor_is_an_error_naming_it_and_its_shapes(tiny_model_dir, tmp_path):
    def reshape(weights):
        weights["classifier.weight"] = torch.zeros(3, 32)
        weights["classifier.bias"] = torch.zeros(3)

    damaged = _edit_weights(tiny_model_dir, tmp_path / "model", reshape)
    with pytest.raises(textclass.TextclassError, match="shaped differently") as err:
        _load(damaged)
    assert "`classifier.weight`: checkpoint (3, 32), model (2, 32)" in str(err.value)


def test_a_directory_without_weights_is_an_error(tiny_model_dir, tmp_path):
    shutil.copytree(tiny_model_dir, tmp_path / "model")
    (tmp_path / "model" / "model.safetensors").unlink()
    with pytest.raises(textclass.TextclassError, match="cannot load the model"):
        _load(tmp_path / "model")


# ---------------------------------------------------------------- pretrained encoders


def test_a_bare_encoder_gets_a_fresh_head_and_pooler(tiny_model_dir, tmp_path):
    """A sentence encoder saved without pooler or classifier: both start new, nothing else."""
    from transformers import AutoConfig, BertModel

    torch.manual_seed(0)
    with quiet_transformers():
        encoder = BertModel(AutoConfig.from_pretrained(tiny_model_dir), add_pooling_layer=False)
        encoder.save_pretrained(tmp_path / "encoder")
    shutil.copy(tiny_model_dir / "tokenizer.json", tmp_path / "encoder")
    model = build_model(ModelConfig(name=str(tmp_path / "encoder")), ["a", "b", "c"])
    assert model.classifier.out_features == 3
    loaded = model.bert.encoder.layer[1].output.dense.weight
    assert torch.equal(loaded, encoder.encoder.layer[1].output.dense.weight)


def test_a_new_label_count_replaces_only_the_head(tiny_model_dir):
    model = build_model(ModelConfig(name=str(tiny_model_dir)), ["a", "b", "c"])
    assert model.classifier.out_features == 3


def test_a_pretrained_encoder_that_lost_a_tensor_is_an_error(tiny_model_dir, tmp_path):
    damaged = _edit_weights(tiny_model_dir, tmp_path / "encoder", lambda w: w.pop(LOST))
    with pytest.raises(textclass.TextclassError, match="would start random") as err:
        build_model(ModelConfig(name=str(damaged)), ["a", "b"])
    assert LOST in str(err.value) and "model.pretrained=false" in str(err.value)
    # On purpose, random weights still build.
    build_model(ModelConfig(name=str(damaged), pretrained=False), ["a", "b"])


# ---------------------------------------------------------------- tokenizers


@pytest.mark.parametrize("architecture", ["transformer", "bilstm"])
def test_the_run_tokenizer_saves_the_run_max_length(tiny_model_dir, tmp_path, architecture):
    from transformers import AutoTokenizer

    cfg = ModelConfig(name=str(tiny_model_dir), architecture=architecture, max_length=40)
    tokenizer = build_tokenizer(cfg, ["some training text", "and more of it"] * 5)
    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again.model_max_length == 40
    assert len(again("word " * 100, truncation=True)["input_ids"]) == 40
