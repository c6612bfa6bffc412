"""The declared version floors (pyproject.toml) and scripts/min_versions.py, which pins them for
`make test-min-versions` (docs/development.md gives the evidence behind each floor)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]


def _script():
    return load_script("min_versions")


def test_every_requirement_of_every_extra_gets_its_floor_pinned():
    pins = _script().floors()
    assert pins["torch"] == "torch==2.5"
    assert pins["fastapi"].startswith("fastapi==")  # serve extra
    assert pins["schemathesis"].startswith("schemathesis==")  # dev extra
    assert pins["optuna"] == "optuna==4.0"  # tune extra (and dev)
    assert all(pin.count("==") == 1 for pin in pins.values())
    assert _script().floors(extras=["serve"]).keys() < pins.keys()


@pytest.mark.parametrize(
    ("package", "needed", "why"),
    [
        ("torch", "2.5", "torch 2.4's ONNX exporter fails on SDPA attention with a float scale"),
        ("transformers", "5.0", "4.x BERT ignores AttentionInterface: no fast attention"),
        ("tokenizers", "0.22.1", "0.22.0 wants huggingface-hub<1, transformers 5 wants >=1.3"),
        ("typer", "0.13", "typer <0.13 rejects or misparses `Path | None` options"),
        ("rich", "13.9.4", "schemathesis 4.0 (dev extra) requires rich>=13.9.4"),
        ("safetensors", "0.4.3", "transformers 5 requires safetensors>=0.4.3"),
        ("scipy", "1.11.1", "imported directly; 1.11.0 is yanked"),
        ("optuna", "4.0", "optuna.storages.journal.JournalFileBackend is new in 4.0"),
    ],
)
def test_floors_are_not_below_what_the_code_needs(package, needed, why):
    script = _script()
    floor = script.floors()[package].split("==", 1)[1]
    assert script._release(floor) >= script._release(needed), f"{package}>={floor}: {why}"


def test_a_requirement_without_a_floor_is_an_error(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["numpy>=1.26", "pandas"]\n', encoding="utf-8"
    )
    with pytest.raises(SystemExit, match=r"`pandas` declares no lower bound"):
        _script().floors(pyproject)


def test_markers_and_extras_of_a_requirement_are_kept(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["uvicorn[standard]>=0.30,<1", '
        "\"tomli>=2; python_version < '3.11'\"]\n",
        encoding="utf-8",
    )
    pins = _script().floors(pyproject)
    assert pins == {"uvicorn": "uvicorn==0.30", "tomli": "tomli==2; python_version < '3.11'"}


def test_check_compares_release_numbers():
    script = _script()
    assert script._release("2.5.0+cpu") == script._release("2.5")
    assert script._release("0.4.3") > script._release("0.4")
    assert script.check({"pytest": "pytest==0.1"}) == [
        f"pytest: floor 0.1, installed {importlib.metadata.version('pytest')}"
    ]
