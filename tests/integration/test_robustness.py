"""Robustness checks and training augmentation end to end: the run's robustness.json and report
section, its numbers recomputed from the saved model's own predictions, `textclass robustness`,
and `train.augment` (seeded, training texts only, resumed exactly)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import textclass
from tests.conftest import run_cli
from tests.integration.test_training import _SigintAt
from textclass.data.clean import clean_texts
from textclass.data.perturb import perturb
from textclass.errors import TrainingInterrupted
from textclass.workflows import rundir

LINEAR = "model.architecture=linear"


@pytest.fixture
def linear_run(tiny_config, tmp_path):
    """A TF-IDF + logistic regression run (seconds, NumPy only: predictions are exact)."""
    return textclass.train(tiny_config(LINEAR), output=tmp_path / "linear").run_dir


def _recompute(model_dir, frame: pd.DataFrame, name: str, seed: int) -> dict:
    """A perturbation's numbers from scratch: every text perturbed and predicted by the saved
    model (not only the changed ones), compared with its predictions of the originals."""
    clf = textclass.Classifier.load(model_dir, device="cpu", precision="fp32")
    texts, gold = frame["text"].tolist(), frame["gold"].tolist()
    perturbed = perturb(texts, name, seed=seed)
    before, after = clf.predict(texts), clf.predict(perturbed)
    changed = [a != b for a, b in zip(texts, clean_texts(perturbed, clf.cleaning), strict=True)]
    flips = [a != b for a, b in zip(before, after, strict=True)]
    return {
        "changed": sum(changed),
        "flips": sum(flips),
        "flips_changed": sum(f for f, c in zip(flips, changed, strict=True) if c),
        "original": np.mean([p == g for p, g in zip(before, gold, strict=True)]),
        "perturbed": np.mean([p == g for p, g in zip(after, gold, strict=True)]),
    }


def test_a_run_measures_robustness_that_recomputes_from_its_model(linear_run):
    record = json.loads((linear_run / rundir.ROBUSTNESS).read_text())
    test = rundir.read_predictions_file(linear_run / rundir.PREDICTIONS["test"])
    assert record["split"] == "test" and record["rows"] == len(test) == 30
    assert set(record["perturbations"]) == {
        "typo", "case", "punctuation", "whitespace", "contractions", "append"
    }  # fmt: skip
    assert set(record["expected_flip"]) == {"negation"}
    assert "synonym" in record["perturbations"] or "synonym" in record["skipped"]
    metrics = json.loads((linear_run / rundir.METRICS).read_text())["test"]
    assert sum(r["flips"] for r in record["perturbations"].values()) > 0  # something moved
    for name, r in {**record["perturbations"], **record["expected_flip"]}.items():
        again = _recompute(linear_run / rundir.MODEL, test, name, record["seed"])
        assert (r["changed"], r["flips"]) == (again["changed"], again["flips"]), name
        assert r["flip_rate"] == pytest.approx(again["flips"] / 30)
        if name == "negation":
            continue
        assert r["flip_rate_changed"] == pytest.approx(again["flips_changed"] / again["changed"])
        assert r["original"] == pytest.approx(again["original"]) == metrics["accuracy"]
        assert r["perturbed"] == pytest.approx(again["perturbed"])
        assert r["flip_rate_interval"][0] <= r["flip_rate"] <= r["flip_rate_interval"][1]
    md = (linear_run / rundir.REPORT["md"]).read_text()
    assert "### Robustness to perturbations (test)" in md and "| `typo` |" in md
    assert "Expected-flip check" in md


def test_robustness_can_be_switched_off(tiny_config, tmp_path):
    run = textclass.train(tiny_config(LINEAR, "eval.robustness=false"), output=tmp_path / "r")
    assert not (run.run_dir / rundir.ROBUSTNESS).exists()
    md = (run.run_dir / rundir.REPORT["md"]).read_text()
    assert "Not measured: the run had `eval.robustness: false`; `textclass robustness " in md


def test_robustness_command_writes_json_and_markdown(
    linear_run, monkeypatch, capsys, tmp_path, rotten_files
):
    model, out = str(linear_run / rundir.MODEL), tmp_path / "rob"
    args = ["robustness", model, "--data", str(rotten_files["test"]), "-p", "typo,case"]
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "-p", "negation", "-o", str(out))
    assert code == 0, err
    record = json.loads((out / rundir.ROBUSTNESS).read_text())
    assert list(record["perturbations"]) == ["typo", "case"]
    assert list(record["expected_flip"]) == ["negation"]
    assert "typo: " in stdout and "of predictions flip" in stdout
    assert "| `typo` |" in (out / rundir.ROBUSTNESS_REPORT).read_text()
    # The importable function gives the same numbers; the file is never overwritten silently.
    same = textclass.robustness(model, rotten_files["test"], perturbations=["typo"])
    assert same["perturbations"]["typo"]["flips"] == record["perturbations"]["typo"]["flips"]
    code, _, err = run_cli(monkeypatch, capsys, *args, "-o", str(out))
    assert code == 2 and "exists; choose another --output or pass --overwrite" in err

    # The run's own config.yaml: its test split, its seed, so its own numbers again.
    config = str(linear_run / rundir.CONFIG)
    again = textclass.robustness(model, config, split="test")
    saved = json.loads((linear_run / rundir.ROBUSTNESS).read_text())
    for name, r in saved["perturbations"].items():
        assert again["perturbations"][name]["flips"] == r["flips"], name

    code, _, err = run_cli(monkeypatch, capsys, "robustness", model, "--data", config, "-p", "tpyo")
    assert code == 2 and "unknown perturbation `tpyo`. Did you mean `typo`?" in err
    data = str(rotten_files["test"])
    code, _, err = run_cli(monkeypatch, capsys, "robustness", model, "--data", data, "--split", "x")
    assert code == 2 and "Remove --split" in err


AUGMENT = ("train.augment.perturbations=[typo, case, append]", "train.augment.p=0.5")


def test_augmented_runs_are_seeded_and_say_what_they_perturbed(tiny_config, tmp_path):
    short = ("train.epochs=2", "eval.robustness=false", "eval.baseline=false")
    one = textclass.train(tiny_config(*short, *AUGMENT), output=tmp_path / "a", report=False)
    two = textclass.train(tiny_config(*short, *AUGMENT), output=tmp_path / "b")
    plain = textclass.train(tiny_config(*short), output=tmp_path / "c", report=False)
    assert [h["train_loss"] for h in one.history] == [h["train_loss"] for h in two.history]
    a, b, c = (load_file(r.model_dir / "model.safetensors") for r in (one, two, plain))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)  # augmentation changed the training

    augment = json.loads((one.run_dir / rundir.HISTORY).read_text())["extras"]["augment"]
    assert augment["perturbations"] == ["typo", "case", "append"] and augment["p"] == 0.5
    assert list(augment["epochs"]) == ["0", "1"] and augment["texts"] == 100
    assert all(30 < e["changed"] <= e["drawn"] < 70 for e in augment["epochs"].values())
    assert augment["epochs"]["0"] != augment["epochs"]["1"]
    data = json.loads((one.run_dir / rundir.DATA).read_text())
    assert data["augment"]["applied"] and data["augment"]["p"] == 0.5
    md = (two.run_dir / rundir.REPORT["md"]).read_text()
    assert "**Augmentation** (`train.augment`): typo, case, append with p=0.5" in md


def test_augmentation_never_touches_validation_or_test(tiny_config):
    from textclass.data.augment import AugmentedTexts
    from textclass.workflows.build import build
    from textclass.workflows.train import prepare

    def built(*overrides):
        cfg = tiny_config(*overrides)
        return build(cfg, prepare(cfg))

    augmented, plain = built(*AUGMENT), built()
    assert isinstance(augmented.encoded["train"], AugmentedTexts)
    for epoch in (0, 1):
        augmented.encoded["train"].set_epoch(epoch)
        for split in ("validation", "test"):
            assert augmented.encoded[split].encoding == plain.encoded[split].encoding
    assert augmented.encoded["train"].encoding != plain.encoded["train"].encoding


def test_resumed_with_augmentation_equals_uninterrupted(tiny_config, tmp_path):
    overrides = (
        "train.epochs=2", "train.grad_accum_steps=2", "train.batch_size=8", *AUGMENT,
        "eval.robustness=false", "eval.baseline=false",
    )  # fmt: skip
    full = textclass.train(tiny_config(*overrides), output=tmp_path / "full", report=False)
    cut = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted):
        textclass.train(tiny_config(*overrides), output=cut, callbacks=[_SigintAt(4)])
    resumed = textclass.train(resume=cut, report=False)
    for a, b in zip(full.history, resumed.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    history = [json.loads((r.run_dir / rundir.HISTORY).read_text()) for r in (full, resumed)]
    assert history[0]["extras"]["augment"] == history[1]["extras"]["augment"]
    x = load_file(full.model_dir / "model.safetensors")
    y = load_file(resumed.model_dir / "model.safetensors")
    assert all(torch.allclose(x[k], y[k], atol=1e-6) for k in x)


def test_the_transformer_run_measures_robustness_on_its_saved_model(tiny_config, tmp_path):
    """The tiny transformer: robustness.json written; flips recompute from the saved model up
    to rows whose two class probabilities are within 1e-4 (a near tie can go either way)."""
    result = textclass.train(tiny_config("eval.robustness_perturbations=[typo, append]"))
    record = json.loads((result.run_dir / rundir.ROBUSTNESS).read_text())
    test = rundir.read_predictions_file(result.run_dir / rundir.PREDICTIONS["test"])
    ties = int((abs(test["prob_fresh"] - 0.5) < 1e-4).sum())
    for name, r in record["perturbations"].items():
        again = _recompute(result.model_dir, test, name, record["seed"])
        assert r["changed"] == again["changed"] == 30
        assert abs(r["flips"] - again["flips"]) <= ties
        assert r["model_input_changed"] == 30 and r["seconds"] >= 0
