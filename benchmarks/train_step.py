"""What each speed measure of the training loop is worth: MiniLM-L6 optimizer steps, fresh process
per variant, variants interleaved `--repeats` times (medians), ratios against fp32 in the same run.

    python benchmarks/train_step.py                       # seq 32 and 256, batch 32, 3 repeats
    python benchmarks/train_step.py --seq 64 --repeats 5

Variants, each adding one measure to the one before (the last is textclass's default):
- fp32: float32, the checkpoint's dropout (attention 0.1), fused AdamW;
- bf16: + bf16 autocast;
- attn_dropout_0: + attention dropout 0 (lets SDPA use its fused kernel);
- fast_attention: + `fast_attention` (fp32 fused SDPA inside bf16 autocast);
- allocator: + `tune_allocator` (glibc keeps freed memory for reuse).
Fixed-shape random token batches (speed does not depend on the text); a warm-up of 3 steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

VARIANTS = ["fp32", "bf16", "attn_dropout_0", "fast_attention", "allocator"]


def worker(spec: dict) -> dict:
    level = VARIANTS.index(spec["variant"])
    if level >= 4:
        from textclass.models.attention import fast_attention
        from textclass.runtime import tune_allocator

        tune_allocator()
    import torch
    from transformers import AutoModelForSequenceClassification

    from textclass.models import build as models

    kwargs = {"attention_probs_dropout_prob": 0.0} if level >= 2 else {}
    with models.quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(
            models.resolve("minilm-l6"), num_labels=2, **kwargs
        )
    if level >= 3:
        fast_attention(model)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)
    torch.manual_seed(0)
    batch, seq = spec["batch"], spec["seq"]
    ids = torch.randint(1000, 20000, (batch, seq))
    labels = torch.randint(0, 2, (batch,))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=level >= 1):
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(spec["steps"]):
        step()
    seconds = time.perf_counter() - started
    return {"samples_per_s": batch * spec["steps"] / seconds}


def main() -> None:
    if _common.ran_as_worker(sys.argv, lambda spec: worker):
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seq", type=int, nargs="+", default=[32, 256])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--output", help="JSON path (default benchmarks/results/train_step.json)")
    args = p.parse_args()
    env = _common.environment()
    results = {}
    for seq in args.seq:
        steps = max(4, 1200 // seq)
        runs: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(args.repeats):
            for variant in VARIANTS:
                spec = {"variant": variant, "seq": seq, "batch": args.batch, "steps": steps}
                res = _common.run_worker(__file__, spec)
                runs[variant].append(res["samples_per_s"])
        medians = {v: statistics.median(r) for v, r in runs.items()}
        results[str(seq)] = {"runs": runs, "median_samples_per_s": medians}
        print(f"\n== seq {seq}, batch {args.batch}, {steps} steps, median of {args.repeats}")
        print(f"{'variant':<16} {'samples/s':>10} {'x fp32':>7} {'x previous':>10}")
        previous = None
        for variant in VARIANTS:
            m = medians[variant]
            step_gain = f"{m / previous:>10.2f}" if previous else f"{'':>10}"
            print(f"{variant:<16} {m:>10.1f} {m / medians['fp32']:>7.2f} {step_gain}")
            previous = m
    data = {
        "benchmark": "train_step",
        "command": " ".join(sys.argv),
        "environment": env,
        "variants": VARIANTS,
        "results": results,
    }
    print(f"\nwrote {_common.save_json(data, args.output, 'train_step')}")


if __name__ == "__main__":
    main()
