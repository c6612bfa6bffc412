"""The training loop's parts that need no training (textclass.training.loop): the optimizer's
layer-wise learning rates and gradual unfreezing."""

import pytest

from textclass.config.schema import ModelConfig, TokenizerConfig
from textclass.models import build as models
from textclass.models.tokenizers import train_tokenizer
from textclass.training.optim import gradual_unfreezing, make_optimizer


def test_layer_wise_lr_decay(tiny_model_dir):
    model = models.build_model(ModelConfig(name=str(tiny_model_dir)), ["a", "b"])
    optimizer = make_optimizer(model, 1e-3, 0.01, layer_lr_decay=0.5)
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    params = dict(model.named_parameters())
    assert lr_of[id(params["classifier.weight"])] == pytest.approx(1e-3)
    assert lr_of[id(params["bert.encoder.layer.1.output.dense.weight"])] == pytest.approx(5e-4)
    assert lr_of[id(params["bert.encoder.layer.0.output.dense.weight"])] == pytest.approx(2.5e-4)
    embed = params["bert.embeddings.word_embeddings.weight"]
    assert lr_of[id(embed)] == pytest.approx(1.25e-4)
    assert len(lr_of) == len(params)  # every parameter in exactly one group


def test_gradual_unfreezing_opens_top_layers_first(tiny_model_dir):
    model = models.build_model(ModelConfig(name=str(tiny_model_dir)), ["a", "b"])
    params = dict(model.named_parameters())
    top, bottom = "bert.encoder.layer.1.output.dense.weight", "bert.encoder.layer.0.attention"
    bottom += ".self.query.weight"
    embed = "bert.embeddings.word_embeddings.weight"
    expected = {0: (False, False, False), 1: (True, False, False), 2: (True, True, False)}
    for epoch, (t, b, e) in expected.items():
        gradual_unfreezing(model, 1, epoch)
        assert params["classifier.weight"].requires_grad
        assert (params[top].requires_grad, params[bottom].requires_grad) == (t, b)
        assert params[embed].requires_grad == e
    assert gradual_unfreezing(model, 1, 10) == 3
    assert all(p.requires_grad for p in model.parameters())


def test_unfreezing_leaves_config_frozen_embeddings_frozen():
    tok = train_tokenizer(["a b c d"] * 3, TokenizerConfig(vocab_size=100, min_frequency=1))
    cfg = ModelConfig(architecture="bilstm", bilstm={"hidden_size": 8, "freeze_embeddings": True})
    model = models.build_model(cfg, ["x", "y"], tok)
    fixed = {id(p) for p in model.parameters() if not p.requires_grad}
    assert len(fixed) == 1
    gradual_unfreezing(model, 5, 3, fixed)
    assert not model.encoder.embeddings.weight.requires_grad
    assert model.encoder.lstm.weight_ih_l0.requires_grad
