"""Training speed: `transformers.Trainer` with default arguments vs `textclass.train`, same run.

    python benchmarks/train_speed.py                          # both profiles, small sizes
    python benchmarks/train_speed.py --profile long --samples 1024
    python benchmarks/train_speed.py --accuracy --epochs 3   # also full-epoch test accuracy (slow)

Both sides fine-tune MiniLM-L6 (`textclass.models.resolve("minilm-l6")`) for one epoch over the
same `--samples` texts (so the same number of optimizer steps, ceil(samples / 32)), batch size 32,
learning rate 5e-5, each in its own fresh Python process (clean peak RSS, no shared threads or
allocator state).

- short: Rotten Tomatoes critic snippets (bundled), --max-length 128 by default.
- long: review-length texts synthesised from the same snippets (per text a log-normal token
  target, median ~230, ~14% at the 512 cap; snippets of one label concatenated), --max-length 512.

What each timing includes:
- `loop_s` (the headline, samples/s = samples / loop_s):
  Trainer: the `trainer.train()` call (optimizer/scheduler creation, data loading, steps; no
  evaluation, `save_strategy="no"` so no checkpoint writes).
  textclass: `TrainState.train_seconds` from history.json: data loading + steps; the evaluation
  and checkpoint writes at the end are excluded by the loop itself.
- `call_s`: Trainer: tokenize + model load + Trainer construction + train. textclass: the whole
  `textclass.train()` call (data preparation, tokenize, model load, loop, evaluation on the small
  validation/test splits, checkpoint and model save; `report=False`).
- `process_wall_s`: the child process from start to exit, including Python and library imports.

Trainer side, "default" means `TrainingArguments` defaults (fp32, AdamW, linear schedule, no
warm-up, random batches) except: output_dir (a temp dir), per_device_train_batch_size=32,
num_train_epochs, learning_rate (5e-5, the default anyway), seed, report_to="none" and
save_strategy="no". Texts are tokenized with truncation and no padding, and `processing_class=
tokenizer` gives Trainer's `DataCollatorWithPadding` (dynamic padding per random batch).
textclass side: configs/rotten_tomatoes.yaml with data cleaning off (so both see identical
texts), the given max_length, batch size, lr and train.max_steps; precision `auto` (bf16 here).

TFLOP/s are estimates: 6 x non-embedding parameters x real (non-padding) tokens, divided by
`loop_s`; attention score FLOPs and padding are not counted. They are shown as a fraction of a
bf16 2048x2048 matmul peak measured at the start of the run on this machine.

`--accuracy` instead trains both for `--epochs` full epochs on a 70/15/15 split (short: textclass's
own seeded, film-grouped split of the bundled data; long: a seeded random split of `--samples`
synthesised texts) and compares test accuracy. Trainer uses its final weights; textclass its best
validation checkpoint (its normal behaviour). Slow: hours on 2 cores at default sizes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

ROOT = Path(__file__).resolve().parent.parent
BATCH = 32
DEFAULTS = {"short": (256, 128), "long": (96, 512)}


# ---------------------------------------------------------------- workers (child processes)


def _read_split(data_dir: str, name: str):
    import pandas as pd

    path = Path(data_dir) / f"{name}.jsonl"
    return pd.read_json(path, lines=True, dtype=False) if path.is_file() else None


def _non_embedding_params(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


def worker_trainer(spec: dict) -> dict:
    import numpy as np
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    from textclass.models import build as models

    hf_logging.set_verbosity_error()
    started = time.perf_counter()
    set_seed(spec["seed"])
    path = models.resolve("minilm-l6")
    tok = AutoTokenizer.from_pretrained(path)
    train = _read_split(spec["data_dir"], "train")
    labels = sorted(set(train["label"]))
    index = {lab: i for i, lab in enumerate(labels)}

    def dataset(frame):
        enc = tok(frame["text"].tolist(), truncation=True, max_length=spec["max_length"])
        keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
        return [
            {**{k: enc[k][i] for k in keys}, "labels": index[frame["label"].iat[i]]}
            for i in range(len(frame))
        ]

    train_ds = dataset(train)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    with tempfile.TemporaryDirectory(prefix="tc-trainer-") as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=BATCH,
            num_train_epochs=spec["epochs"],
            learning_rate=spec["lr"],
            seed=spec["seed"],
            report_to="none",
            save_strategy="no",
        )
        trainer = Trainer(model=model, args=args, train_dataset=train_ds, processing_class=tok)
        loop_start = time.perf_counter()
        output = trainer.train()
        loop_s = time.perf_counter() - loop_start
        result = {
            "side": "trainer",
            "loop_s": loop_s,
            "samples": len(train_ds) * spec["epochs"],
            "steps": output.global_step,
            "train_runtime_reported": output.metrics.get("train_runtime"),
            "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
            "optimizer": str(args.optim),
            "params_non_embedding": _non_embedding_params(model),
            "torch_threads": torch.get_num_threads(),
        }
        test = _read_split(spec["data_dir"], "test") if spec.get("accuracy") else None
        if test is not None:
            pred = trainer.predict(dataset(test))
            y = np.array([index[x] for x in test["label"]])
            result["test_accuracy"] = float((pred.predictions.argmax(axis=1) == y).mean())
    result["call_s"] = time.perf_counter() - started
    return result


def worker_textclass(spec: dict) -> dict:
    import torch

    import textclass
    from textclass.runtime import choose_device, choose_precision

    train = _read_split(spec["data_dir"], "train")
    frames = {
        name: frame
        for name in ("train", "validation", "test")
        if (frame := _read_split(spec["data_dir"], name)) is not None
    }
    with tempfile.TemporaryDirectory(prefix="tc-textclass-") as out:
        overrides = [
            f"model.max_length={spec['max_length']}",
            f"train.batch_size={BATCH}",
            f"train.lr={spec['lr']}",
            f"seed={spec['seed']}",
            "data.cleaning.enabled=false",
            "data.cleaning.drop_duplicates=false",
            f"output.dir={out}",
            *spec.get("textclass_overrides", []),
        ]
        if spec.get("accuracy"):
            overrides.append(f"train.epochs={spec['epochs']}")
        else:
            overrides.append(f"train.max_steps={math.ceil(len(train) / BATCH)}")
        cfg = textclass.load_config(ROOT / "configs" / "rotten_tomatoes.yaml", overrides)
        started = time.perf_counter()
        result = textclass.train(cfg, frames=frames, output=Path(out) / "run", report=False)
        call_s = time.perf_counter() - started
        state = json.loads((result.run_dir / "history.json").read_text())
        model = result.classifier().model
        out_result = {
            "side": "textclass",
            "loop_s": state["train_seconds"],
            "samples": state["samples_seen"],
            "steps": state["global_step"],
            "call_s": call_s,
            "precision": choose_precision(cfg.train.precision, choose_device(cfg.train.device)),
            "params_non_embedding": _non_embedding_params(model),
            "torch_threads": torch.get_num_threads(),
            "data_wait_fraction": state["data_seconds"] / max(state["train_seconds"], 1e-9),
            "speed_settings": state["extras"]["speed"],
        }
        if spec.get("accuracy"):
            out_result["test_accuracy"] = result.metrics["test"]["accuracy"]
    return out_result


# ---------------------------------------------------------------- parent


def make_data(profile: str, n: int, seed: int, accuracy: bool, data_dir: Path) -> dict:
    """Write train/validation/test JSONL files; returns the training texts and the tokenizer."""
    import numpy as np
    import pandas as pd
    from transformers import AutoTokenizer

    from textclass.models import build as models

    tok = AutoTokenizer.from_pretrained(models.resolve("minilm-l6"))
    if accuracy and profile == "short":
        from textclass.config.load import load_config
        from textclass.data.prepare import prepare_data

        cfg = load_config(ROOT / "configs" / "rotten_tomatoes.yaml", [f"seed={seed}"])
        splits = prepare_data(cfg.data, cfg.seed).splits  # cleaned, deduplicated, film-grouped
        splits = {k: v[["text", "label"]] for k, v in splits.items()}
    else:
        make = _common.short_texts if profile == "short" else _common.long_texts
        args = (tok,) if profile == "long" else ()
        texts, labels = make(n, seed, *args)
        frame = pd.DataFrame({"text": texts, "label": labels})
        if accuracy:
            order = np.random.default_rng(seed).permutation(len(frame))
            a, b = int(0.7 * len(frame)), int(0.85 * len(frame))
            splits = {
                "train": frame.iloc[order[:a]],
                "validation": frame.iloc[order[a:b]],
                "test": frame.iloc[order[b:]],
            }
        else:
            # textclass needs validation/test frames; tiny ones keep its final evaluation short
            # (it is outside `loop_s` anyway). Trainer ignores them.
            extra = make(64, seed + 1, *args)
            tail = pd.DataFrame({"text": extra[0], "label": extra[1]})
            splits = {"train": frame, "validation": tail[:32], "test": tail[32:]}
    for name, split in splits.items():
        split.to_json(data_dir / f"{name}.jsonl", orient="records", lines=True, force_ascii=False)
    return splits["train"]["text"].tolist(), tok


def token_stats(texts: list[str], tok, max_length: int) -> dict:
    import numpy as np

    lengths = np.array(
        [len(x) for x in tok(texts, truncation=True, max_length=max_length)["input_ids"]]
    )
    return {
        "texts": len(lengths),
        "real_tokens": int(lengths.sum()),
        "mean": float(lengths.mean()),
        "p50": float(np.median(lengths)),
        "p90": float(np.percentile(lengths, 90)),
        "at_cap_share": float((lengths >= max_length).mean()),
    }


def run_profile(profile: str, args: argparse.Namespace, peak_tflops: float) -> dict:
    n = args.samples or DEFAULTS[profile][0]
    max_length = args.max_length or DEFAULTS[profile][1]
    epochs = args.epochs if args.accuracy else 1
    with tempfile.TemporaryDirectory(prefix="tc-data-") as data_dir:
        texts, tok = make_data(profile, n, args.seed, args.accuracy, Path(data_dir))
        tokens = token_stats(texts, tok, max_length)
        spec = {
            "data_dir": data_dir,
            "max_length": max_length,
            "lr": args.lr,
            "seed": args.seed,
            "epochs": epochs,
            "accuracy": args.accuracy,
            "textclass_overrides": args.textclass_override,
        }
        sides = {}
        order = ["trainer", "textclass"] if not args.textclass_first else ["textclass", "trainer"]
        for side in [s for s in order if s in args.sides]:
            print(f"[{profile}] running {side} ...", flush=True)
            sides[side] = _common.run_worker(__file__, {**spec, "side": side}, args.timeout)
    for res in sides.values():
        res["samples_per_s"] = res["samples"] / res["loop_s"]
        flops = 6 * res["params_non_embedding"] * tokens["real_tokens"] * epochs
        res["est_tflops"] = flops / res["loop_s"] / 1e12
        res["est_fraction_of_bf16_peak"] = res["est_tflops"] / peak_tflops
    base = {
        "profile": profile,
        "max_length": max_length,
        "epochs": epochs,
        "tokens": tokens,
        **sides,
    }
    if len(sides) < 2:
        return base
    t, c = sides["trainer"], sides["textclass"]
    ratios = {
        "samples_per_s": c["samples_per_s"] / t["samples_per_s"],
        "call_s": t["call_s"] / c["call_s"],
        "process_wall_s": t["process_wall_s"] / c["process_wall_s"],
        "peak_rss": c["peak_rss_mb"] / t["peak_rss_mb"],
    }
    if args.accuracy:
        ratios["accuracy_points"] = 100 * (c["test_accuracy"] - t["test_accuracy"])
    return {**base, "ratios_textclass_over_trainer": ratios}


def print_profile(r: dict) -> None:
    tk = r["tokens"]
    print(
        f"\n== {r['profile']}: {tk['texts']} texts, max_length {r['max_length']}, "
        f"tokens/text mean {tk['mean']:.0f} p50 {tk['p50']:.0f} p90 {tk['p90']:.0f}, "
        f"{tk['at_cap_share']:.0%} at cap, epochs {r['epochs']}"
    )
    head = f"{'side':<10} {'prec':<5} {'steps':>5} {'loop s':>8} {'samples/s':>10} "
    head += f"{'call s':>8} {'proc s':>8} {'RSS MB':>8} {'TFLOP/s':>8} {'of peak':>8}"
    print(head)
    for side in [x for x in ("trainer", "textclass") if x in r]:
        s = r[side]
        frac = s["est_fraction_of_bf16_peak"]
        line = (
            f"{side:<10} {s['precision']:<5} {s['steps']:>5} {s['loop_s']:>8.1f} "
            f"{s['samples_per_s']:>10.2f} {s['call_s']:>8.1f} {s['process_wall_s']:>8.1f} "
            f"{s['peak_rss_mb']:>8.0f} {s['est_tflops']:>8.3f} {frac:>8.1%}"
        )
        if "test_accuracy" in s:
            line += f"  test acc {s['test_accuracy']:.4f}"
        print(line)
    if "ratios_textclass_over_trainer" not in r:
        return
    ra = r["ratios_textclass_over_trainer"]
    print(
        f"textclass / Trainer: samples/s x{ra['samples_per_s']:.2f}, whole call x{ra['call_s']:.2f}"
        f" faster, process x{ra['process_wall_s']:.2f} faster, peak RSS x{ra['peak_rss']:.2f}"
        + (f", accuracy {ra['accuracy_points']:+.2f} points" if "accuracy_points" in ra else "")
    )


def main() -> None:
    pick = lambda spec: worker_trainer if spec["side"] == "trainer" else worker_textclass  # noqa: E731
    if _common.ran_as_worker(sys.argv, pick):
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", choices=["short", "long", "both"], default="both")
    p.add_argument("--samples", type=int, help="texts per profile (default 256 short, 96 long)")
    p.add_argument("--max-length", type=int, help="default 128 short, 512 long")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--accuracy", action="store_true", help="full epochs + test accuracy (slow)")
    p.add_argument("--epochs", type=int, default=3, help="with --accuracy")
    p.add_argument(
        "--textclass-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra textclass config override, repeatable (e.g. model.attention_dropout=0)",
    )
    p.add_argument("--textclass-first", action="store_true", help="run textclass side first")
    p.add_argument(
        "--sides",
        nargs="+",
        choices=["trainer", "textclass"],
        default=["trainer", "textclass"],
        help="run only these sides (ratios need both)",
    )
    p.add_argument("--timeout", type=float, default=None, help="seconds per side")
    p.add_argument("--output", help="JSON path (default benchmarks/results/train_speed.json)")
    args = p.parse_args()

    env = _common.environment()
    peak = _common.bf16_matmul_peak()
    print(f"bf16 matmul peak (2048^3, best of {peak['reps']}): {peak['tflops']:.2f} TFLOP/s")
    profiles = ["short", "long"] if args.profile == "both" else [args.profile]
    results = []
    for profile in profiles:
        results.append(run_profile(profile, args, peak["tflops"]))
        print_profile(results[-1])
    data = {
        "benchmark": "train_speed",
        "command": " ".join(sys.argv),
        "environment": env,
        "bf16_matmul_peak": peak,
        "flops_estimate": "6 x non-embedding params x real tokens / loop_s (estimate)",
        "textclass_overrides": args.textclass_override,
        "profiles": results,
    }
    print(f"\nwrote {_common.save_json(data, args.output, 'train_speed')}")


if __name__ == "__main__":
    main()
