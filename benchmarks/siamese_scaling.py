"""Siamese training at 1x and 4x data: time per epoch and peak memory must grow linearly.

    python benchmarks/siamese_scaling.py                        # BiLSTM, 1,000 and 4,000 snippets
    python benchmarks/siamese_scaling.py --model minilm-l6 --layers 2 --base 500

Each size trains one epoch of `train.siamese` (pairs_per_example=2) on Rotten Tomatoes snippets in
its own fresh process (peak RSS = that process's VmHWM), and, as the baseline measured in the
same run, one epoch of plain training on the same rows. Printed: seconds per epoch, texts
processed per second, peak RSS, and the ratios 4x/1x. Linear growth shows as a time ratio near
4 (a quadratic pairing of all texts would give 16) and a flat texts/s; peak memory is
dominated by the model and one batch, so it stays nearly flat.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common


def worker(spec: dict) -> dict:
    import pandas as pd

    import textclass

    texts, labels = _common.short_texts(spec["n"], seed=0)
    texts = [f"{t} #{i}" for i, t in enumerate(texts)]  # distinct: deduplication drops nothing
    frame = pd.DataFrame({"text": texts, "label": labels})
    overrides = [
        "data.train=unused",
        "train.epochs=1",
        "train.batch_size=32",
        "train.eval_steps=100000",  # one evaluation, at the end
        f"train.siamese.enabled={str(spec['siamese']).lower()}",
        "train.siamese.pairs_per_example=2",
        f"output.dir={spec['tmp']}",
        "model.max_length=64",
    ]
    if spec["model"] == "bilstm":
        overrides += ["model.architecture=bilstm", "train.lr=2e-3"]
    else:
        overrides += [f"model.name={spec['model']}", f"model.num_layers={spec['layers']}"]
    cfg = textclass.load_config(base={"name": "siamese"}, overrides=overrides)
    small = frame.iloc[:50]
    t = time.perf_counter()
    result = textclass.train(
        cfg, frames={"train": frame, "validation": small, "test": small}, report=False
    )
    seconds = time.perf_counter() - t
    record = result.history[-1]
    return {
        "n": spec["n"],
        "train_seconds": record["train_seconds"],
        "run_seconds": seconds,
        "texts_per_second": record["samples_per_second"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bilstm", help="bilstm, or a transformer name/path")
    parser.add_argument("--layers", type=int, default=2, help="encoder layers (transformers)")
    parser.add_argument("--base", type=int, default=1000, help="texts at 1x")
    parser.add_argument("--out", default=str(_common.RESULTS / "siamese_scaling.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for siamese in (False, True):
            for factor in (1, 4):
                spec = {
                    "n": args.base * factor,
                    "siamese": siamese,
                    "model": args.model,
                    "layers": args.layers,
                    "tmp": str(Path(tmp) / f"{siamese}-{factor}"),
                    "side": f"{'siamese' if siamese else 'plain'} {factor}x",
                }
                result = _common.run_worker(__file__, spec)
                rows.append({"siamese": siamese, "factor": factor, **result})
    print(f"{'training':<9} {'texts':>6} {'s/epoch':>8} {'texts/s':>8} {'peak MB':>8}")
    for r in rows:
        kind = "siamese" if r["siamese"] else "plain"
        print(
            f"{kind:<9} {r['n']:>6} {r['train_seconds']:>8.1f} {r['texts_per_second']:>8.1f} "
            f"{r['peak_rss_mb']:>8.0f}"
        )
    ratios = {}
    for kind in (False, True):
        one, four = (r for r in rows if r["siamese"] == kind)
        name = "siamese" if kind else "plain"
        ratios[name] = {
            "time_4x_over_1x": four["train_seconds"] / one["train_seconds"],
            "peak_rss_4x_over_1x": four["peak_rss_mb"] / one["peak_rss_mb"],
        }
        print(
            f"{name}: 4x data -> time x{ratios[name]['time_4x_over_1x']:.2f}, "
            f"peak memory x{ratios[name]['peak_rss_4x_over_1x']:.2f}"
        )
    siamese_cost = rows[2]["train_seconds"] / rows[0]["train_seconds"]
    print(f"siamese epoch / plain epoch at 1x: x{siamese_cost:.2f} (3 texts per anchor)")
    Path(args.out).write_text(
        json.dumps({"environment": _common.environment(), "rows": rows, "ratios": ratios}, indent=1)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    if not _common.ran_as_worker(sys.argv, lambda spec: worker):
        main()
