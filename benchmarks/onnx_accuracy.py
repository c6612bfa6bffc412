"""Does the ONNX export predict like PyTorch? Accuracy and probability differences on a test set.

    textclass export runs/rotten_tomatoes/model
    textclass export runs/rotten_tomatoes/model --quantize int8
    python benchmarks/onnx_accuracy.py runs/rotten_tomatoes

Reads the run's test split (`predictions.csv`: text, gold) and predicts it with PyTorch fp32,
PyTorch with the default precision (bf16 autocast where the CPU has it), and each export found
beside the model (`model-onnx`, `model-onnx-int8`); prints accuracy, the difference from PyTorch
fp32 in accuracy points, the largest probability difference, and texts/s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from textclass import Classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    test = pd.read_csv(args.run_dir / "predictions.csv", dtype=str, keep_default_na=False)
    texts, gold = test["text"].tolist(), test["gold"].to_numpy()
    model_dir = args.run_dir / "model"
    variants = [("PyTorch", model_dir, "fp32"), ("PyTorch", model_dir, "auto")]
    for suffix in ("onnx", "onnx-int8"):
        export = model_dir.with_name(f"model-{suffix}")
        if (export / "model.onnx").is_file():
            kind = "int8" if suffix.endswith("int8") else "fp32"
            variants.append((f"ONNX Runtime {kind}", export, kind))

    reference = None
    print(f"{len(texts)} test texts from {args.run_dir}")
    print("| model | precision | accuracy | Δ accuracy (points) | max Δ probability | texts/s |")
    print("|---|---|---|---|---|---|")
    for name, path, precision in variants:
        clf = Classifier.load(path, precision="auto" if name.startswith("ONNX") else precision)
        precision = clf.precision if name == "PyTorch" else precision
        clf.predict_proba(texts[:64], batch_size=args.batch_size)  # warm-up
        start = time.perf_counter()
        probs = clf.predict_proba(texts, batch_size=args.batch_size)
        rate = len(texts) / (time.perf_counter() - start)
        accuracy = float((np.array(clf.labels)[probs.argmax(axis=1)] == gold).mean())
        if reference is None:
            reference = (accuracy, probs)
        delta = 100 * (accuracy - reference[0])
        diff = float(np.abs(probs - reference[1]).max())
        print(f"| {name} | {precision} | {accuracy:.4f} | {delta:+.2f} | {diff:.2e} | {rate:.0f} |")


if __name__ == "__main__":
    main()
