"""Layer groups of each model family (textclass.models.build.layer_groups): the units that
layer-wise learning rates and gradual unfreezing act on."""

from textclass.config.schema import ModelConfig, TokenizerConfig
from textclass.models import build as models
from textclass.models.tokenizers import train_tokenizer


def test_layer_groups_bert_and_bilstm(tiny_model_dir):
    bert = models.build_model(ModelConfig(name=str(tiny_model_dir)), ["a", "b"])
    groups = models.layer_groups(bert)
    assert len(groups) == 4  # embeddings, 2 layers, head
    assert all("embeddings" in n for n, _ in groups[0])
    assert all(".layer.0." in n for n, _ in groups[1])
    assert {n for n, _ in groups[-1]} >= {"classifier.weight", "bert.pooler.dense.weight"}
    tok = train_tokenizer(["a b c"] * 3, TokenizerConfig(vocab_size=100, min_frequency=1))
    lstm = models.build_model(
        ModelConfig(architecture="bilstm", bilstm={"num_layers": 2, "hidden_size": 8}),
        ["a", "b"],
        tok,
    )
    names = [[n for n, _ in g] for g in models.layer_groups(lstm)]
    assert names[0] == ["encoder.embeddings.weight"]
    assert all("_l0" in n for n in names[1]) and all("_l1" in n for n in names[2])
    assert "classifier.weight" in names[3] and "encoder.attention.0.weight" in names[3]
    n_params = sum(1 for _ in lstm.parameters())
    assert sum(len(g) for g in names) == n_params
