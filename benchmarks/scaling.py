"""Scaling of streamed prediction and data preparation with data size: time per text, peak RSS.

    python benchmarks/scaling.py                                   # 1x, 4x, 16x of --base 1000
    python benchmarks/scaling.py --base 62500 --chunk-size 10000 --only predict   # up to 1M texts

The full 1M-text check (sizes 62,500 / 250,000 / 1,000,000, the product's default chunk size)
is the second command above; at a few hundred texts/s on 2 cores the 1M step alone takes about
an hour, so give it a generous --timeout (e.g. --timeout 7200).

For each size (base x 1, 4, 16; `--factors` to change) a CSV of short texts is written (Rotten
Tomatoes snippets, cycled through in a seeded order; repeats get a ` #k` suffix so they stay
distinct and deduplication drops nothing), then each measurement runs in its own fresh process
(clean peak RSS = that process's VmHWM):
- predict: `textclass.predict_file(MODEL, CSV, OUT.csv, chunk_size=--chunk-size)`: time of the
  call (model load included; `load_s` is reported apart) and the same time minus loading;
- prepare: `textclass.data.prepare_data` (read, clean, deduplicate, split) on `data.train=CSV`,
  then tokenizing every split as `textclass.train` does (`encode_split`); both timed.
Linear time shows as a constant time per text across sizes (the ratio column, relative to 1x);
bounded memory as a flat peak RSS. With a chunk size at least as large as the biggest file, the
streaming is not exercised, hence --chunk-size 1000 by default here (10,000 in the product).
The model directory is the one predict_speed.py makes (MiniLM-L6, max_length 128), or --model;
`--layers 2` cuts MiniLM to 2 layers (3x faster per text, the same streaming code path), which
is how the million-text run fits in half an hour on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

ROOT = Path(__file__).resolve().parent.parent


def worker(spec: dict) -> dict:
    if spec["task"] == "predict":
        import textclass
        from textclass.inference.classifier import Classifier

        t = time.perf_counter()
        Classifier.load(spec["model"])  # load time alone (predict_file loads it again)
        load_s = time.perf_counter() - t
        out = Path(spec["tmp"]) / "predictions.csv"
        t = time.perf_counter()
        rows = textclass.predict_file(
            spec["model"],
            spec["csv"],
            out,
            chunk_size=spec["chunk_size"],
            overwrite=True,
            progress=False,
        )
        seconds = time.perf_counter() - t
        out.unlink()
        return {"rows": rows, "seconds": seconds, "load_s": load_s}
    from textclass.config.load import load_config
    from textclass.data.prepare import prepare_data
    from textclass.models import build as models
    from textclass.workflows.build import encode_split

    cfg = load_config(
        ROOT / "configs" / "rotten_tomatoes.yaml",
        [f"data.train={spec['csv']}", f"model.max_length={spec['max_length']}"],
    )
    t = time.perf_counter()
    data = prepare_data(cfg.data, cfg.seed)
    prepare_s = time.perf_counter() - t
    tok = models.load_tokenizer(cfg.model.name)
    t = time.perf_counter()
    rows = 0
    for frame in data.splits.values():
        rows += len(encode_split(tok, frame, data.labels, cfg.model.max_length))
    tokenize_s = time.perf_counter() - t
    return {
        "rows": rows,
        "seconds": prepare_s + tokenize_s,
        "prepare_s": prepare_s,
        "tokenize_s": tokenize_s,
    }


def write_csv(path: Path, n: int, seed: int) -> None:
    import numpy as np
    import pandas as pd

    from textclass.data import datasets

    df = datasets.load("rotten_tomatoes")[["text", "label"]]
    # keep one row per text, so that `#k` suffixes make every row distinct
    df = df.drop_duplicates("text").reset_index(drop=True)
    order = np.random.default_rng(seed).permutation(len(df))
    idx = np.resize(order, n)
    cycle = np.arange(n) // len(df)
    texts = df["text"].to_numpy()[idx].astype(object)
    suffix = np.where(cycle > 0, np.char.add(" #", cycle.astype(str)), "")
    frame = pd.DataFrame({"text": texts + suffix, "label": df["label"].to_numpy()[idx]})
    frame.to_csv(path, index=False)


def main() -> None:
    if _common.ran_as_worker(sys.argv, lambda spec: worker):
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", type=int, default=1000, help="texts at 1x")
    p.add_argument("--factors", default="1,4,16")
    p.add_argument("--chunk-size", type=int, default=1000, help="predict_file chunk size")
    p.add_argument("--max-length", type=int, default=128, help="for the tokenizing step")
    p.add_argument("--only", choices=["predict", "prepare"], help="run one task only")
    p.add_argument("--model", help="model directory (default: predict_speed.py's)")
    p.add_argument("--model-cache", default="/tmp/textclass-bench-model")
    p.add_argument(
        "--layers", type=int, help="without --model: MiniLM cut to N layers (faster, same path)"
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--timeout", type=float, default=None, help="seconds per measurement")
    p.add_argument("--output", help="JSON path (default benchmarks/results/scaling.json)")
    args = p.parse_args()

    import predict_speed

    env = _common.environment()
    tasks = [args.only] if args.only else ["predict", "prepare"]
    model = None
    if "predict" in tasks:
        cache = Path(args.model_cache + (f"-L{args.layers}" if args.layers else ""))
        model = Path(args.model) if args.model else predict_speed.ensure_model(cache, args.layers)
    factors = [int(f) for f in args.factors.split(",")]
    rows: dict[str, list[dict]] = {task: [] for task in tasks}
    with tempfile.TemporaryDirectory(prefix="tc-scaling-") as tmp:
        for factor in factors:
            n = args.base * factor
            csv = Path(tmp) / f"texts_{n}.csv"
            write_csv(csv, n, args.seed)
            for task in tasks:
                print(f"{task} {n} texts ...", flush=True)
                spec = {
                    "task": task,
                    "csv": str(csv),
                    "tmp": tmp,
                    "model": str(model),
                    "chunk_size": args.chunk_size,
                    "max_length": args.max_length,
                }
                res = _common.run_worker(__file__, spec, args.timeout)
                res.update(factor=factor, texts=n, us_per_text=1e6 * res["seconds"] / n)
                if "load_s" in res:
                    res["us_per_text_without_load"] = 1e6 * (res["seconds"] - res["load_s"]) / n
                rows[task].append(res)
                print(
                    f"  {res['seconds']:.1f} s, {res['us_per_text']:.1f} us/text, "
                    f"peak RSS {res['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
            csv.unlink()
    print(f"\nbase {args.base}, chunk size {args.chunk_size}; machine {env['cpu_model']}")
    for task, results in rows.items():
        key = "us_per_text_without_load" if task == "predict" else "us_per_text"
        first = results[0][key]
        print(f"\n{task}: {'texts':>9} {'seconds':>9} {'us/text':>9} {'vs 1x':>6} {'RSS MB':>8}")
        for r in results:
            r["per_text_ratio_vs_first"] = r[key] / first
            print(
                f"{'':<{len(task) + 1}} {r['texts']:>9} {r['seconds']:>9.2f} {r[key]:>9.1f} "
                f"{r['per_text_ratio_vs_first']:>6.2f} {r['peak_rss_mb']:>8.0f}"
            )
        if task == "predict":
            print("  (us/text excludes model loading; `seconds` includes it)")
    data = {
        "benchmark": "scaling",
        "command": " ".join(sys.argv),
        "environment": env,
        "base": args.base,
        "chunk_size": args.chunk_size,
        "model": str(model) if model else None,
        "layers": args.layers,
        "results": rows,
    }
    print(f"wrote {_common.save_json(data, args.output, 'scaling')}")


if __name__ == "__main__":
    main()
