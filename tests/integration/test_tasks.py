"""Units of issue #4: tokenizers for any script, losses, thresholds, layer-wise learning rates,
gradual unfreezing, Siamese pair sampling, sliding windows, multi-label data."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer

from textclass.config.load import load_config
from textclass.config.schema import (
    DataConfig,
    ModelConfig,
    ThresholdConfig,
    TokenizerConfig,
    TrainConfig,
    WindowConfig,
)
from textclass.data.encode import LengthGroupedBatches, SiameseBatches, encode, first_windows
from textclass.data.prepare import prepare_data
from textclass.errors import ConfigError, DataError
from textclass.evaluation.thresholds import tune_thresholds
from textclass.models import build as models
from textclass.models.tokenizers import train_tokenizer
from textclass.training.loop import gradual_unfreezing, make_optimizer
from textclass.training.losses import build_loss, focal_loss, pos_weights, sigmoid_focal_loss

FIXTURES = Path(__file__).parents[1] / "fixtures"


# ---------------------------------------------------------------- tokenizers


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_tokenizer_round_trips_telugu_and_devanagari(tmp_path, kind):
    frame = pd.read_csv(FIXTURES / "scripts.csv")
    texts = frame["text"].tolist()
    tok = train_tokenizer(texts * 3, TokenizerConfig(kind=kind, vocab_size=400, min_frequency=1))
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    for script in ("telugu", "devanagari"):
        for text in frame.loc[frame["script"] == script, "text"]:
            ids = again(text)["input_ids"]
            assert again.unk_token_id not in ids, (text, again.convert_ids_to_tokens(ids))
            # Vowel signs and viramas survive: no accent stripping.
            assert again.decode(ids, skip_special_tokens=True) == text
    # Unseen text of a seen script splits into known pieces rather than [UNK].
    ids = again("తెలుగు సినిమా")["input_ids"]
    assert again.unk_token_id not in ids


def test_tokenizer_frames_pairs_and_lowercases():
    tok = train_tokenizer(
        ["Who wrote Hamlet?", "Shakespeare wrote it."] * 5,
        TokenizerConfig(vocab_size=120, min_frequency=1, lowercase=True),
    )
    ids = tok("WHO wrote", "it")["input_ids"]
    tokens = tok.convert_ids_to_tokens(ids)
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2
    assert "who" in tokens
    assert tok.pad_token_id == 0


# ---------------------------------------------------------------- losses


def test_focal_loss_with_gamma_zero_is_cross_entropy():
    torch.manual_seed(0)
    logits, y = torch.randn(16, 4), torch.randint(0, 4, (16,))
    assert torch.allclose(focal_loss(logits, y, gamma=0.0), F.cross_entropy(logits, y))
    # gamma > 0 down-weights easy examples: never more than cross-entropy.
    assert focal_loss(logits, y, gamma=2.0) < F.cross_entropy(logits, y)
    targets = (torch.rand(16, 4) > 0.5).float()
    assert torch.allclose(
        sigmoid_focal_loss(logits, targets, gamma=0.0),
        F.binary_cross_entropy_with_logits(logits, targets),
    )


def test_focal_loss_focuses_on_hard_examples():
    easy, hard = torch.tensor([[4.0, -4.0]]), torch.tensor([[0.0, 0.0]])
    y = torch.tensor([0])
    ratio_ce = F.cross_entropy(hard, y) / F.cross_entropy(easy, y)
    ratio_focal = focal_loss(hard, y, 2.0) / focal_loss(easy, y, 2.0)
    assert ratio_focal > 100 * ratio_ce


def test_build_loss_by_task_and_weights():
    y = np.array([0, 0, 0, 1])
    ce = build_loss(TrainConfig(class_weights="balanced"), "single_label", ["a", "b"], y)
    assert ce.name == "cross_entropy"
    assert ce.weights == pytest.approx({"a": 4 / 6, "b": 2.0})
    focal = build_loss(
        TrainConfig(loss={"name": "focal", "alpha": 0.75}), "single_label", ["a", "b"], y
    )
    assert focal.weights == pytest.approx({"a": 0.25, "b": 0.75})
    assert focal.describe()["params"]["gamma"] == 2.0
    ym = np.array([[1, 0], [1, 0], [1, 1], [1, 0]], dtype=np.float32)
    bce = build_loss(TrainConfig(loss={"pos_weight": "balanced"}), "multi_label", ["a", "b"], ym)
    assert bce.name == "bce"
    assert bce.weights == pytest.approx({"a": 1.0, "b": 3.0})  # negatives / positives, >= 1
    assert pos_weights({"b": 5.0}, ["a", "b"], ym).tolist() == [1.0, 5.0]


@pytest.mark.parametrize(
    ("train", "task", "message"),
    [
        ({"loss": {"name": "bce"}}, "single_label", "bce is for multi-label"),
        ({"loss": {"name": "cross_entropy"}}, "multi_label", "cross_entropy is for single"),
        ({"class_weights": "balanced"}, "multi_label", "class_weights is for single-label"),
        ({"loss": {"pos_weight": "balanced"}}, "single_label", "pos_weight is for multi-label"),
        ({"siamese": {"enabled": True}}, "multi_label", "siamese needs single-label"),
    ],
)
def test_losses_that_cannot_serve_the_task_are_errors(train, task, message):
    y = np.zeros((4, 2), dtype=np.float32) if task == "multi_label" else np.array([0, 1, 0, 1])
    with pytest.raises(ConfigError, match=message):
        build_loss(TrainConfig(**train), task, ["a", "b"], y)


# ---------------------------------------------------------------- thresholds


def test_tuned_thresholds_beat_the_default_on_rare_labels():
    rng = np.random.default_rng(0)
    y = (rng.random((400, 3)) < [0.5, 0.1, 0.03]).astype(int)
    # A model whose rare-label scores are informative but low (typical for BCE on rare labels).
    probs = np.clip(y * [0.4, 0.3, 0.25] + rng.random(y.shape) * 0.35, 0, 1)
    cuts = tune_thresholds(y, probs)
    from sklearn.metrics import f1_score

    for k in range(3):
        tuned = f1_score(y[:, k], probs[:, k] >= cuts[k])
        default = f1_score(y[:, k], probs[:, k] >= 0.5, zero_division=0)
        assert tuned >= default
    assert cuts[2] < 0.5
    off = tune_thresholds(y, probs, ThresholdConfig(tune=False))
    assert off.tolist() == [0.5, 0.5, 0.5]
    rare = tune_thresholds(y, probs, ThresholdConfig(min_support=1000))
    assert rare.tolist() == [0.5, 0.5, 0.5]


# ---------------------------------------------------------------- layers


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


def test_unfreezing_and_lr_decay_train_end_to_end(tiny_config):
    import textclass

    result = textclass.train(
        tiny_config(
            "train.epochs=3",
            "train.unfreeze_layers_per_epoch=1",
            "train.layer_lr_decay=0.8",
            "data.max_samples=32",
        ),
        report=False,
    )
    assert len(result.history) == 3
    with pytest.raises(ConfigError, match="unfreeze_layers_per_epoch needs model.freeze=none"):
        textclass.train(
            tiny_config("train.unfreeze_layers_per_epoch=1", "model.freeze=encoder"), report=False
        )


# ---------------------------------------------------------------- Siamese pairs


def _siamese(n: int, k: int = 4, seed: int = 0) -> SiameseBatches:
    labels = np.arange(n) % 3
    inner = LengthGroupedBatches(np.ones(n, dtype=np.int64), 16, seed=seed)
    return SiameseBatches(inner, labels, k)


def test_siamese_pairs_are_balanced_and_bounded():
    batches = _siamese(300)
    labels = batches.labels
    same = total = rows = 0
    for batch in batches:
        b = len(batch) // 5
        anchors, partners = np.array(batch[:b]), np.array(batch[b:]).reshape(b, 4)
        assert len(batch) == 5 * b
        # The first ceil(k/2) partners share the anchor's class, the rest never do.
        assert (labels[partners[:, :2]] == labels[anchors][:, None]).all()
        assert (labels[partners[:, 2:]] != labels[anchors][:, None]).all()
        same += (labels[partners] == labels[anchors][:, None]).sum()
        total += partners.size
        rows += len(batch)
    assert same / total == 0.5
    assert rows == 300 * (1 + 4)  # n * (1 + k) texts per epoch: linear, never n^2


def test_siamese_pair_count_grows_linearly_and_is_deterministic():
    sizes = {n: sum(len(b) for b in _siamese(n)) for n in (200, 800)}
    assert sizes[800] == 4 * sizes[200]
    first, again = list(_siamese(200, seed=3)), list(_siamese(200, seed=3))
    assert first == again
    other = _siamese(200, seed=3)
    other.epoch = 1
    assert list(other) != first


# ---------------------------------------------------------------- sliding windows


def test_windows_cover_long_texts_and_aggregate(tiny_model_dir):
    tok = models.load_tokenizer(str(tiny_model_dir))
    long_text = " ".join(f"word{i}" for i in range(60))
    window = WindowConfig(enabled=True, stride=4, max_windows=3)
    data = encode(tok, [long_text, "short one"], None, 16, np.array([1, 0]), window)
    assert data.num_texts == 2 and data.owner.tolist()[:3] == [0, 0, 0]
    assert data.window_stats == {"texts": 2, "windows": 4, "longer_than_window": 1, "truncated": 1}
    assert max(data.lengths) <= 16
    assert [data[i]["labels"] for i in range(len(data))] == [1, 1, 1, 0]
    # Consecutive windows share `stride` tokens (between the special tokens).
    a, b = data[0]["input_ids"][1:-1], data[1]["input_ids"][1:-1]
    assert a[-4:] == b[:4]
    logits = np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 0.0], [0.0, 2.0]])
    assert data.aggregate_rows(logits).tolist() == [[3.0, 0.0], [0.0, 2.0]]
    data.aggregate = "max"
    assert data.aggregate_rows(logits).tolist() == [[5.0, 0.0], [0.0, 2.0]]
    first = first_windows(data)
    assert len(first) == 2 and first.owner is None


def test_window_config_is_checked():
    with pytest.raises(ConfigError, match="window.stride=40 must be at most half"):
        load_config(
            base={"data": {"train": "x.csv"}},
            overrides=[
                "model.max_length=64",
                "model.window.enabled=true",
                "model.window.stride=40",
            ],
        )
    with pytest.raises(ConfigError, match="embedding_dim=64"):
        load_config(
            base={"data": {"train": "x.csv"}},
            overrides=["model.bilstm.embeddings=glove-6b-50d", "model.bilstm.embedding_dim=64"],
        )
    cfg = load_config(
        base={"data": {"train": "x.csv"}}, overrides=["model.bilstm.embeddings=glove-6b-50d"]
    )
    assert cfg.model.bilstm.embedding_dim == 50


# ---------------------------------------------------------------- multi-label data


def test_multi_label_from_delimited_csv_and_json_lists(tmp_path):
    rows = [("t1 good", "a|b"), ("t2 fine", "b"), ("t3 ok", ""), ("t4 so so", "a")] * 10
    frame = pd.DataFrame(rows, columns=["text", "tags"])
    frame["text"] = [f"{t} {i}" for i, t in enumerate(frame["text"])]
    csv = tmp_path / "d.csv"
    frame.to_csv(csv, index=False)
    data = prepare_data(DataConfig(train=csv, label_column="tags", label_delimiter="|"), seed=0)
    assert data.task == "multi_label" and data.labels == ["a", "b"]
    every = pd.concat(data.splits.values())
    assert sorted(map(tuple, every["label"])) == sorted(
        [("a", "b")] * 10 + [("b",)] * 10 + [()] * 10 + [("a",)] * 10
    )
    jsonl = tmp_path / "d.jsonl"
    frame.assign(tags=[t.split("|") if t else [] for t in frame["tags"]]).to_json(
        jsonl, orient="records", lines=True
    )
    again = prepare_data(DataConfig(train=jsonl, label_column="tags"), seed=0)
    assert again.task == "multi_label"  # detected from the JSON lists
    assert again.targets("train").shape[1] == 2


def test_list_labels_in_a_single_label_task_are_an_error(tmp_path):
    path = tmp_path / "d.jsonl"
    pd.DataFrame({"text": ["a", "b"], "label": [["x"], ["y"]]}).to_json(
        path, orient="records", lines=True
    )
    with pytest.raises(DataError, match=r"row 1: .*list of labels.*data.task=multi_label"):
        prepare_data(DataConfig(train=path, task="single_label"), seed=0)


def test_iterative_stratification_keeps_rare_labels_in_every_split():
    data = prepare_data(DataConfig(dataset="trec_multilabel"), seed=0)
    assert len(data.labels) == 56
    counts = data.stats["class_counts"]
    # Labels with at least 12 examples appear in every split, in about their share.
    total = {k: sum(counts[s].get(k, 0) for s in counts) for k in data.labels}
    for label in (k for k, v in total.items() if v >= 12):
        for split in ("validation", "test"):
            assert counts[split].get(label, 0) >= 1, (label, split)
        share = counts["train"][label] / total[label]
        assert 0.6 <= share <= 0.8, (label, share)


def test_doctor_runs_for_bilstm_and_multi_label(tiny_config, tiny_model_dir, tmp_path):
    from textclass.diagnosis.doctor import doctor

    bilstm = tiny_config("model.architecture=bilstm", "train.lr=1e-2", "model.bilstm.dropout=0")
    checks = {c.name: c for c in doctor(bilstm, steps=80)}
    assert checks["can overfit a few batches"].status == "pass"
    # Random starting features cannot be probed: said, not failed.
    assert checks["loss responds to the labels"].status == "warn"
    cfg = load_config(
        Path(__file__).parents[2] / "configs" / "trec_multilabel.yaml",
        ["data.max_samples=200", f"model.name={tiny_model_dir}", "train.precision=fp32"],
    )
    names = {c.name for c in doctor(cfg, steps=5)}
    assert "can overfit a few batches" in names and "batches follow the label mix" not in names


def test_task_dependent_options_are_checked_once_the_data_is_read(tiny_config, tmp_path):
    import textclass
    from textclass.config.schema import check_task_options

    with pytest.raises(ConfigError, match="f1_micro does not apply to single_label"):
        textclass.train(tiny_config("train.metric=f1_micro"), report=False)
    cfg = tiny_config("train.siamese.enabled=true")
    with pytest.raises(ConfigError, match="siamese needs single-label data"):
        check_task_options(cfg, "multi_label")


def test_focal_gradients_stay_finite_for_small_gamma():
    logits = torch.tensor([[30.0, 0.0]], requires_grad=True)
    focal_loss(logits, torch.tensor([0]), gamma=0.5).backward()
    assert torch.isfinite(logits.grad).all()
    logits = torch.tensor([[30.0, -30.0]], requires_grad=True)
    sigmoid_focal_loss(logits, torch.tensor([[1.0, 0.0]]), gamma=0.5).backward()
    assert torch.isfinite(logits.grad).all()


def test_overrides_keep_empty_strings_and_block_indicators():
    from textclass.config.load import parse_overrides

    nested, problems = parse_overrides(["a.b=''", "a.c=|", "a.d=null", "a.e=,"])
    assert problems == [] and nested == {"a": {"b": "", "c": "|", "d": None, "e": ","}}


def test_glove_matches_word_starts_only():
    from textclass.models.bilstm import _word

    assert _word("the", "wordpiece") == "the" and _word("##ing", "wordpiece") is None
    assert _word("▁The", "bpe") == "the" and _word("the", "bpe") is None
    assert _word("▁", "bpe") is None


def test_unfreezing_leaves_config_frozen_embeddings_frozen():
    tok = train_tokenizer(["a b c d"] * 3, TokenizerConfig(vocab_size=100, min_frequency=1))
    cfg = ModelConfig(architecture="bilstm", bilstm={"hidden_size": 8, "freeze_embeddings": True})
    model = models.build_model(cfg, ["x", "y"], tok)
    fixed = {id(p) for p in model.parameters() if not p.requires_grad}
    assert len(fixed) == 1
    gradual_unfreezing(model, 5, 3, fixed)
    assert not model.encoder.embeddings.weight.requires_grad
    assert model.encoder.lstm.weight_ih_l0.requires_grad


def test_logged_learning_rate_is_the_heads_with_layer_wise_decay(tiny_config):
    import textclass

    result = textclass.train(
        tiny_config("train.max_steps=2", "train.layer_lr_decay=0.5", "train.scheduler=constant"),
        report=False,
    )
    assert result.history[-1]["lr"] == pytest.approx(1e-3)  # tiny_config's lr, not 1e-3 / 8


def test_options_that_do_not_apply_are_errors_not_silence():
    with pytest.raises(ConfigError, match=r"model.num_layers does not apply \(use model.bilstm"):
        load_config(
            base={"data": {"train": "x.csv"}},
            overrides=["model.architecture=bilstm", "model.num_layers=2"],
        )
    y = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ConfigError, match="pos_weight applies to bce"):
        build_loss(
            TrainConfig(loss={"name": "focal", "pos_weight": "balanced"}),
            "multi_label",
            ["a", "b"],
            y,
        )
