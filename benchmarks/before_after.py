"""Training speed of this checkout vs an older one (the commit before a speed change), same run.

    git worktree add /tmp/tc-before 4d9bf35          # the code before issue #5
    python benchmarks/before_after.py --baseline-src /tmp/tc-before/src

Runs `textclass.train` on a config (default: the demo's, configs/rotten_tomatoes.yaml) for
`--steps` optimizer steps, with each side's *own defaults* (that is the point: what a user of
each version gets), alternating baseline and current `--repeats` times in fresh processes
(PYTHONPATH selects the code), and prints the median samples/s of each (from history.json:
the loop's own clock, without evaluation) and their ratio. On a shared machine whose speed
drifts, alternating is what makes the ratio meaningful.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, textclass
overrides = json.loads(sys.argv[2])
result = textclass.train(sys.argv[1], overrides, output=sys.argv[3], report=False)
print(json.dumps({"samples_per_s": result.history[-1]["samples_per_second"]}))
"""


def run(src: Path, config: str, overrides: list[str], out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, config, json.dumps(overrides), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"training with {src} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["samples_per_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--baseline-src", required=True, help="the older checkout's src/ directory")
    p.add_argument("--config", default=str(ROOT / "configs" / "rotten_tomatoes.yaml"))
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--output", help="JSON path (default benchmarks/results/before_after.json)")
    args = p.parse_args()
    overrides = [f"train.max_steps={args.steps}", "train.eval_steps=100000"]
    sides = {"baseline": Path(args.baseline_src).resolve(), "current": ROOT / "src"}
    rates: dict[str, list[float]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory(prefix="tc-before-after-") as tmp:
        for i in range(args.repeats):
            for name, src in sides.items():
                rate = run(src, args.config, overrides, Path(tmp) / f"{name}-{i}")
                rates[name].append(rate)
                print(f"{name:<9} run {i + 1}: {rate:.1f} samples/s", flush=True)
    medians = {name: statistics.median(r) for name, r in rates.items()}
    ratio = medians["current"] / medians["baseline"]
    print(
        f"median samples/s: baseline {medians['baseline']:.1f}, current {medians['current']:.1f}"
        f" -> x{ratio:.2f}"
    )
    data = {
        "benchmark": "before_after",
        "command": " ".join(sys.argv),
        "environment": _common.environment(),
        "steps": args.steps,
        "runs": rates,
        "median_samples_per_s": medians,
        "ratio_current_over_baseline": ratio,
    }
    print(f"wrote {_common.save_json(data, args.output, 'before_after')}")


if __name__ == "__main__":
    main()
