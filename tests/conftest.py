"""Shared fixtures: a tiny random BERT on the real MiniLM tokenizer, and slices of real data."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from textclass.config.load import load_config
from textclass.config.schema import RunConfig
from textclass.data import datasets
from textclass.models.build import quiet_transformers, resolve


def pytest_collection_modifyitems(config, items):
    """Everything under tests/integration/ trains a model: mark it, so `-m "not integration"`
    runs the unit tests alone (milliseconds each)."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with random weights and MiniLM's real WordPiece tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(resolve("minilm-l6"))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    import torch

    torch.manual_seed(0)
    with quiet_transformers():
        BertForSequenceClassification(config).save_pretrained(path)
        tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def rotten() -> pd.DataFrame:
    """The bundled Rotten Tomatoes data, columns text, label, movie_name."""
    return datasets.load("rotten_tomatoes")


@pytest.fixture
def rotten_files(tmp_path, rotten) -> dict[str, Path]:
    """Small train/validation/test CSVs cut from the real data (balanced, seeded)."""
    sample = rotten.groupby("label", group_keys=False).sample(n=80, random_state=0)
    sample = sample.sample(frac=1, random_state=1).reset_index(drop=True)
    parts = {"train": sample[:100], "validation": sample[100:130], "test": sample[130:]}
    paths = {}
    for name, frame in parts.items():
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the `textclass` entry point in-process; returns (exit code, stdout, stderr)."""
    from textclass import cli

    monkeypatch.setattr(sys, "argv", ["textclass", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def tiny_overrides(model_dir: Path, out: Path) -> list[str]:
    return [
        f"model.name={model_dir}",
        "model.max_length=48",
        "train.precision=fp32",
        "train.epochs=3",  # tests set their length; the default (auto) is for real data
        "train.batch_size=16",
        "train.lr=1e-3",
        "train.warmup_ratio=0",
        "eval.batch_size=32",
        f"output.dir={out}",
    ]


@pytest.fixture
def tiny_config(tmp_path, tiny_model_dir, rotten_files):
    """Build a RunConfig for the tiny model on the small real files, plus any overrides."""

    def build(*overrides: str) -> RunConfig:
        files = [f"data.{name}={path}" for name, path in rotten_files.items()]
        return load_config(
            base={"name": "tiny"},
            overrides=[*files, *tiny_overrides(tiny_model_dir, tmp_path / "runs"), *overrides],
        )

    return build


@pytest.fixture
def write_yaml(tmp_path):
    def write(data: dict, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data))
        return path

    return write


def in_memory_classifier(result, like):
    """A Classifier over the model `train` returned in memory (not read back from disk), set
    up like the reloaded `like` (tokenizer, labels, cleaning, windows, thresholds), in fp32."""
    import copy

    from textclass.inference.classifier import Classifier

    return Classifier(
        copy.deepcopy(result.model),
        like.tokenizer,
        like.labels,
        cleaning=like.cleaning,
        max_length=like.max_length,
        columns=like.columns,
        meta=like.meta,
        device="cpu",
        precision="fp32",
    )


def load_script(name: str, folder: str = "scripts"):
    """A script of scripts/ (or another folder: benchmarks/), not a package, imported as a
    module, for tests of its functions."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it is executed
    spec.loader.exec_module(module)
    return module


def hand_written_model(tiny_model_dir: Path, dest: Path, **meta) -> Path:
    """The tiny BERT as a textclass model directory with a hand-written `textclass.json`
    (labels fresh/rotten unless `meta` says otherwise): predict and evaluate without training."""
    import json
    import shutil

    shutil.copytree(tiny_model_dir, dest)
    meta = {
        "task": "single_label",
        "labels": ["fresh", "rotten"],
        "columns": {"text": "text", "text_pair": None, "label": "label"},
        "max_length": 32,
        **meta,
    }
    (dest / "textclass.json").write_text(json.dumps(meta), encoding="utf-8")
    return dest
