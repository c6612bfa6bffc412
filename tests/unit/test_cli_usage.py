"""Usage mistakes end with click's message and exit code 2, never a traceback."""

from __future__ import annotations

from tests.conftest import run_cli


def test_a_missing_option_is_a_usage_message(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "predict", str(tmp_path))
    assert code == 2
    assert "Missing option '--input'" in err


def test_an_unknown_command_suggests_the_right_one(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "predictt")
    assert code == 2
    assert "Did you mean 'predict'" in err
