"""Prediction speed: `transformers.pipeline` vs `textclass.Classifier`, same model, same texts.

    python benchmarks/predict_speed.py                       # trains a 1-step model dir first
    python benchmarks/predict_speed.py --model runs/rotten_tomatoes/model --texts 2000

Measured in separate fresh processes (clean peak RSS), one per side:
- pipeline: `pipeline("text-classification", model=MODEL_DIR)` (CPU, fp32, its defaults) called on
  the whole list with its default batch size (1) and with batch_size=64 (truncation=True both);
- textclass: `Classifier.load(MODEL_DIR).predict(texts)` (batch_size 64 by default, length-sorted
  batches, precision auto: on CPUs with AVX512-BF16 the weights are cast to bf16 once);
- textclass_fp32: the same with precision="fp32" (what bf16 adds);
- textclass_onnx_int8 (with --onnx): `textclass export --quantize int8`, run by ONNX Runtime;
- batch: texts/s over `--texts` Rotten Tomatoes snippets, best of `--repeats` passes after a
  warm-up call; single-text latency: `--calls` calls with one text each (after 10 warm-up calls),
  p50 / p99 in ms. Loading time is reported apart.
Predicted labels of the two sides are compared (agreement), as a sanity check.

Without --model a model directory is made once with `textclass.train` (train.max_steps=1 on the
bundled rotten_tomatoes, max_length 128) in --model-cache: the real MiniLM-L6 shape with nearly
pretrained weights; speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

ROOT = Path(__file__).resolve().parent.parent
WARMUP_CALLS = 10


def _percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]  # noqa: E731
    return {
        "p50_ms": 1000 * at(0.50),
        "p99_ms": 1000 * at(0.99),
        "mean_ms": 1000 * statistics.fmean(values),
    }


def _best_rate(fn, texts: list[str], repeats: int) -> tuple[float, list[str]]:
    best, out = float("inf"), []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(texts)
        best = min(best, time.perf_counter() - t)
    return len(texts) / best, out


def worker(spec: dict) -> dict:
    import torch

    texts, singles = spec["texts"], spec["singles"]
    started = time.perf_counter()
    result: dict = {"side": spec["side"], "torch_threads": torch.get_num_threads()}
    if spec["side"] == "pipeline":
        from transformers import pipeline
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        pipe = pipeline("text-classification", model=spec["model"])
        result["load_s"] = time.perf_counter() - started
        result["precision"] = str(pipe.model.dtype).replace("torch.", "")

        def run(batch_size):
            def call(xs):
                kwargs = {"truncation": True}
                if batch_size:
                    kwargs["batch_size"] = batch_size
                return [r["label"] for r in pipe(xs, **kwargs)]

            return call

        runs = {"default_batch": run(None), "batch_64": run(64)}
        single = lambda text: pipe(text, truncation=True)  # noqa: E731
    else:
        import textclass

        clf = textclass.Classifier.load(
            spec.get("model_dir") or spec["model"], precision=spec.get("precision", "auto")
        )
        result["load_s"] = time.perf_counter() - started
        result["precision"] = clf.precision
        result["runs_as"] = getattr(clf, "runs_as", clf.precision)
        runs = {"batch_64": lambda xs: clf.predict(xs, batch_size=64)}
        single = lambda text: clf.predict([text])  # noqa: E731
    for name, fn in runs.items():
        fn(texts[:64])  # warm-up
        rate, labels = _best_rate(fn, texts, spec["repeats"])
        result[f"{name}_texts_per_s"] = rate
        result[f"{name}_labels"] = labels
    for text in singles[:WARMUP_CALLS]:
        single(text)
    times = []
    for text in singles:
        t = time.perf_counter()
        single(text)
        times.append(time.perf_counter() - t)
    result["single"] = _percentiles(times)
    return result


def ensure_model(cache: Path, layers: int | None = None) -> Path:
    model_dir = cache / "run" / "model"
    if (model_dir / "config.json").is_file():
        return model_dir
    import textclass

    print(f"creating a model directory in {cache} (textclass.train, max_steps=1) ...", flush=True)
    result = textclass.train(
        ROOT / "configs" / "rotten_tomatoes.yaml",
        ["train.max_steps=1", "model.max_length=128", f"output.dir={cache}"]
        + ([f"model.num_layers={layers}"] if layers else []),
        output=cache / "run",
        overwrite=True,
        report=False,
    )
    return result.model_dir


def main() -> None:
    if _common.ran_as_worker(sys.argv, lambda spec: worker):
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="model directory (default: make one in --model-cache)")
    p.add_argument("--model-cache", default="/tmp/textclass-bench-model")
    p.add_argument("--texts", type=int, default=512, help="texts for the batch measurement")
    p.add_argument("--calls", type=int, default=200, help="single-text calls for latency")
    p.add_argument("--repeats", type=int, default=2, help="batch passes; the best is kept")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--timeout", type=float, default=None, help="seconds per side")
    p.add_argument("--onnx", action="store_true", help="also an ONNX Runtime int8 export")
    p.add_argument("--output", help="JSON path (default benchmarks/results/predict_speed.json)")
    args = p.parse_args()

    env = _common.environment()
    model = Path(args.model) if args.model else ensure_model(Path(args.model_cache))
    texts, _ = _common.short_texts(args.texts, args.seed)
    singles, _ = _common.short_texts(args.calls + WARMUP_CALLS, args.seed + 1)
    spec = {"model": str(model), "texts": texts, "singles": singles, "repeats": args.repeats}
    variants = {"pipeline": {}, "textclass": {}, "textclass_fp32": {"precision": "fp32"}}
    if args.onnx:
        from textclass.export.onnx import export_onnx

        onnx_dir = export_onnx(
            model, Path(args.model_cache) / "onnx-int8", quantize="int8", overwrite=True
        )
        variants["textclass_onnx_int8"] = {"model_dir": str(onnx_dir)}
    sides = {}
    for side, extra in variants.items():
        print(f"running {side} ...", flush=True)
        worker_side = "pipeline" if side == "pipeline" else "textclass"
        sides[side] = _common.run_worker(
            __file__, {**spec, **extra, "side": worker_side}, args.timeout
        )
        sides[side]["side"] = side
    pipe, tc = sides["pipeline"], sides["textclass"]
    agreement = {
        name: sum(
            a == b for a, b in zip(pipe["batch_64_labels"], res["batch_64_labels"], strict=True)
        )
        / len(texts)
        for name, res in sides.items()
        if name != "pipeline"
    }
    for res in sides.values():
        for key in [k for k in res if k.endswith("_labels")]:
            res.pop(key)
    ratios = {
        "texts_per_s_vs_pipeline_default": tc["batch_64_texts_per_s"]
        / pipe["default_batch_texts_per_s"],
        "texts_per_s_vs_pipeline_batch_64": tc["batch_64_texts_per_s"]
        / pipe["batch_64_texts_per_s"],
        "p50_latency": tc["single"]["p50_ms"] / pipe["single"]["p50_ms"],
        "p99_latency": tc["single"]["p99_ms"] / pipe["single"]["p99_ms"],
        "peak_rss": tc["peak_rss_mb"] / pipe["peak_rss_mb"],
    }
    print(f"\nmodel {model}; {len(texts)} texts; {args.calls} single calls; env {env['cpu_model']}")
    print(f"{'side':<22} {'prec':<9} {'texts/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'RSS MB':>7}")
    rows = [
        ("pipeline (batch 1)", pipe, "default_batch_texts_per_s"),
        ("pipeline (batch 64)", pipe, "batch_64_texts_per_s"),
    ] + [
        (f"{n} (batch 64)", r, "batch_64_texts_per_s") for n, r in sides.items() if n != "pipeline"
    ]
    for name, res, key in rows:
        print(
            f"{name:<22} {res['precision']:<9} {res[key]:>8.1f} {res['single']['p50_ms']:>7.2f} "
            f"{res['single']['p99_ms']:>7.2f} {res['peak_rss_mb']:>7.0f}"
        )
    print(
        f"textclass / pipeline: texts/s x{ratios['texts_per_s_vs_pipeline_default']:.2f} "
        f"(vs batch 1), x{ratios['texts_per_s_vs_pipeline_batch_64']:.2f} (vs batch 64); "
        f"p50 latency x{ratios['p50_latency']:.2f}, p99 x{ratios['p99_latency']:.2f}; "
        f"label agreement with the pipeline {agreement['textclass']:.3f}"
    )
    for name, res in sides.items():
        if name not in ("pipeline", "textclass"):
            speed = res["batch_64_texts_per_s"] / pipe["batch_64_texts_per_s"]
            p50 = res["single"]["p50_ms"] / pipe["single"]["p50_ms"]
            print(
                f"{name}: texts/s x{speed:.2f} vs pipeline batch 64, p50 x{p50:.2f}; "
                f"label agreement {agreement[name]:.3f}"
            )
    data = {
        "benchmark": "predict_speed",
        "command": " ".join(sys.argv),
        "environment": env,
        "model": str(model),
        "texts": len(texts),
        "single_calls": args.calls,
        **sides,
        "ratios_textclass_over_pipeline": ratios,
        "label_agreement": agreement,
    }
    print(f"wrote {_common.save_json(data, args.output, 'predict_speed')}")


if __name__ == "__main__":
    main()
