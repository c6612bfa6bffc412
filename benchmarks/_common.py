"""Shared helpers for the speed benchmarks: subprocess workers with peak RSS, data, matmul peak.

Each measured side runs in its own fresh Python process (`run_worker`), so memory, threads and
allocator state of one side never leak into the other. Its peak RSS is the child's own `VmHWM`
(/proc/self/status, read by the worker just before it exits): `ru_maxrss` from `wait4` is not
used, because on Linux a child's ru_maxrss starts from the parent's RSS at fork time (a parent
holding a model made both children report the parent's 1.2 GB in a first version of this code).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def run_worker(script: str, spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run `python script --worker SPEC_FILE` in a fresh process; returns its JSON result plus
    `peak_rss_mb` (that child's VmHWM: peak resident set size) and `process_wall_s`."""
    with tempfile.TemporaryDirectory(prefix="tc-bench-") as tmp:
        spec_file, out_file = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_file.write_text(json.dumps({**spec, "result_file": str(out_file)}))
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, script, "--worker", str(spec_file)])
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"worker {spec.get('side')} timed out after {timeout} s") from None
        wall = time.perf_counter() - started
        if code != 0:
            raise RuntimeError(f"worker {spec.get('side')} failed with exit code {code}")
        result = json.loads(out_file.read_text())
    result["peak_rss_mb"] = round(result.pop("vmhwm_kb") / 1024, 1)
    result["process_wall_s"] = round(wall, 2)
    return result


def worker_spec(argv: list[str]) -> dict[str, Any] | None:
    if len(argv) == 3 and argv[1] == "--worker":
        return json.loads(Path(argv[2]).read_text())
    return None


def ran_as_worker(argv: list[str], pick: Callable[[dict[str, Any]], Callable]) -> bool:
    """If this process was started by `run_worker`, run the worker `pick(spec)` chooses, write
    its result and return True; otherwise return False (the script is the coordinator)."""
    spec = worker_spec(argv)
    if spec is None:
        return False
    write_result(spec, pick(spec)(spec))
    return True


def peak_rss_kb() -> int:
    """This process's peak resident set size (VmHWM) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def write_result(spec: dict[str, Any], result: dict[str, Any]) -> None:
    Path(spec["result_file"]).write_text(json.dumps({**result, "vmhwm_kb": peak_rss_kb()}))


def bf16_matmul_peak(n: int = 2048, reps: int = 10) -> dict[str, Any]:
    """Achieved bf16 matmul throughput (n x n @ n x n), best of `reps`, in TFLOP/s."""
    import torch

    a = torch.randn(n, n, dtype=torch.bfloat16)
    b = torch.randn(n, n, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return {"n": n, "reps": reps, "best_s": best, "tflops": 2 * n**3 / best / 1e12}


def environment() -> dict[str, Any]:
    import torch
    import transformers

    load = os.getloadavg()
    cpu_model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not cpu_model:
                cpu_model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu_model": cpu_model,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "ld_preload": os.environ.get("LD_PRELOAD", ""),
        "note": "shared machine: compare ratios within one run, not absolute numbers across runs",
    }


def short_texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    """`n` Rotten Tomatoes snippets (seeded sample, with replacement only if n > the dataset)."""
    from textclass.data import datasets

    df = datasets.load("rotten_tomatoes")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(df), size=n, replace=n > len(df))
    return df["text"].iloc[idx].tolist(), df["label"].iloc[idx].tolist()


def long_texts(
    n: int, seed: int, tokenizer: Any, median: float = 230.0, sigma: float = 0.75, cap: int = 512
) -> tuple[list[str], list[str]]:
    """Review-length texts: per text, draw a target token count from a log-normal (median
    `median`, clipped to [16, cap]) and concatenate random Rotten Tomatoes snippets of one label
    until the target is reached. sigma 0.75 puts ~14% of texts at a 512 cap, as in the notes."""
    from textclass.data import datasets

    df = datasets.load("rotten_tomatoes")
    rng = np.random.default_rng(seed)
    lengths = np.array(
        [
            len(ids) - 2
            for ids in tokenizer(df["text"].tolist(), add_special_tokens=True)["input_ids"]
        ]
    )
    by_label = {
        lab: np.flatnonzero(df["label"].to_numpy() == lab) for lab in sorted(set(df["label"]))
    }
    labels_all = sorted(by_label)
    texts, labels = [], []
    for _ in range(n):
        label = labels_all[rng.integers(len(labels_all))]
        target = int(np.clip(rng.lognormal(np.log(median), sigma), 16, cap))
        parts, total = [], 0
        while total < target:
            j = by_label[label][rng.integers(len(by_label[label]))]
            parts.append(df["text"].iat[j])
            total += int(lengths[j])
        texts.append(" ".join(parts))
        labels.append(label)
    return texts, labels


def save_json(data: dict[str, Any], output: str | None, name: str) -> Path:
    path = Path(output) if output else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def paired_on_test(a: dict[str, Any], b: dict[str, Any], seed: int = 0) -> dict[str, Any] | None:
    """Single-label side `a` against side `b` on the same test rows (records holding `labels`,
    `gold`, `probabilities` and `texts_sha`): accuracy and macro-F1 differences a - b with 95%
    paired bootstrap intervals (`evaluation.baseline.compare`); None when the rows differ."""
    from textclass.config.tasks import SINGLE_LABEL
    from textclass.evaluation.baseline import compare

    if a["texts_sha"] != b["texts_sha"] or a["labels"] != b["labels"]:
        return None
    labels = a["labels"]
    y = np.array([labels.index(g) for g in a["gold"]])
    pa, pb = np.array(a["probabilities"]), np.array(b["probabilities"])
    return {
        m: compare(SINGLE_LABEL, y, pa, pb, labels, m, seed=seed) for m in ("accuracy", "f1_macro")
    }
