"""docs/configuration.md is generated from the config schema and must match it."""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from tests.conftest import load_script
from textclass.config.schema import RunConfig

ROOT = Path(__file__).resolve().parents[2]


def _script():
    return load_script("config_reference")


def test_committed_reference_matches_the_schema():
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    generated = _script().render()
    diff = difflib.unified_diff(
        committed.splitlines(), generated.splitlines(), "committed", "generated", lineterm=""
    )
    changes = "\n".join(list(diff)[:40])
    assert not changes, (
        "docs/configuration.md is out of date with src/textclass/config/schema.py; run "
        f"`python scripts/config_reference.py` and commit the result:\n{changes}"
    )


def test_every_key_is_described_in_a_table():
    script, text = _script(), (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for prefix, model, _ in script.sections():
        for name, field in script.leaf_fields(model):
            assert field.description, f"{prefix}{name} has no Field(description=...)"
            assert f"| `{prefix}{name}` |" in text


def test_example_block_is_the_schema_defaults():
    text = _script().render()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    example = yaml.safe_load(block)
    example["data"]["dataset"] = "rotten_tomatoes"
    expected = RunConfig(data={"dataset": "rotten_tomatoes"}).to_dict()
    assert RunConfig.model_validate(example).to_dict() == expected
    assert example == expected


def test_check_fails_on_a_stale_file(tmp_path, capsys):
    script = _script()
    stale = tmp_path / "configuration.md"
    stale.write_text(script.render().replace("Cap on training rows", "Cap on rows"))
    assert script.main(["--check", "--output", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert script.main(["--output", str(stale)]) == 0
    assert script.main(["--check", "--output", str(stale)]) == 0
