"""The report and the diagnosis rules stay torch-free: a report can be rebuilt where only the
light dependencies are installed, and `textclass report` starts fast."""

import os
import subprocess
import sys
from pathlib import Path

import textclass
from tests.unit.fake_runs import write_regression_run

HEAVY = ("torch", "transformers", "accelerate")
SRC = str(Path(textclass.__file__).parents[1])


def _run(code: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter that finds this checkout's textclass first; it prints the
    heavy modules it ended up importing."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    check = f"\nimport sys\nprint('heavy:', [m for m in {HEAVY!r} if m in sys.modules])"
    return subprocess.run(
        [sys.executable, "-c", code + check], env=env, capture_output=True, text=True, timeout=120
    )


def test_reporting_and_rules_import_without_torch():
    done = _run(
        "import textclass.reporting, textclass.reporting.build, textclass.reporting.render\n"
        "import textclass.reporting.compare, textclass.reporting.figures\n"
        "import textclass.diagnosis.rules\n"
        "from textclass.config.tasks import TASKS\n"
        "from textclass.reporting import sections\n"
        "for task in TASKS.values():\n"
        "    sections.in_order(task)"
    )
    assert done.returncode == 0, done.stderr
    assert "heavy: []" in done.stdout


def test_report_command_renders_a_run_without_torch(tmp_path):
    run = write_regression_run(tmp_path / "scores")
    done = _run(
        "import sys\n"
        "from textclass import cli\n"
        f"sys.argv = ['textclass', 'report', {str(run)!r}]\n"
        "cli.main()"
    )
    assert done.returncode == 0, done.stderr
    assert "heavy: []" in done.stdout
    assert "## Results" in (run / "report.md").read_text()
    assert (run / "report.html").stat().st_size > 10_000
