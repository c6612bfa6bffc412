"""Load-test `textclass serve` on 127.0.0.1: requests/s and latency percentiles.

    python benchmarks/serve_load.py runs/rotten_tomatoes/model \\
        --onnx runs/rotten_tomatoes/model-onnx-int8 --clients 32 --duration 20

For each configuration (torch or ONNX, batching on or off) the script starts a server on a free
local port, waits until `/ready`, then runs `--clients` concurrent clients, each sending one
Rotten Tomatoes review per request (seeded sample of the bundled data) and waiting for the
answer before sending the next, for `--warmup` + `--duration` seconds; only the `--duration`
window is measured. The server is stopped before the next configuration starts. It prints
requests/s, p50/p95/p99 latency, errors, and the mean texts per forward pass (from /metrics).

`--url http://127.0.0.1:PORT` measures an already running server instead (one configuration).
The clients run in this process, on the same machine as the server: on a small machine they
take CPU from it, so compare configurations within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np


@dataclass
class Result:
    config: str
    clients: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_batch: float | None


def review_texts(n: int, seed: int) -> list[str]:
    from textclass.data import datasets

    frame = datasets.load("rotten_tomatoes")
    rng = np.random.default_rng(seed)
    return frame["text"].to_numpy()[rng.permutation(len(frame))[:n]].tolist()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def batch_stats(url: str, headers: dict[str, str]) -> tuple[float, float]:
    text = httpx.get(f"{url}/metrics", headers=headers, timeout=10).text
    values = {"textclass_batch_size_sum": 0.0, "textclass_batch_size_count": 0.0}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in values:
            values[name] = float(value)
    return values["textclass_batch_size_sum"], values["textclass_batch_size_count"]


async def load(
    url: str,
    texts: list[str],
    clients: int,
    warmup: float,
    duration: float,
    headers: dict[str, str],
    seed: int,
) -> tuple[list[float], int, float]:
    """Closed-loop clients; returns latencies (s) and errors inside the measured window."""
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(i: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        rng = np.random.default_rng([seed, i])
        while (now := time.perf_counter()) < stop_at:
            text = texts[int(rng.integers(len(texts)))]
            try:
                response = await http.post(f"{url}/v1/predict", json={"texts": [text]})
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            done = time.perf_counter()
            if now >= measure_from and done <= stop_at:
                if ok:
                    latencies.append(done - now)
                else:
                    errors += 1

    async with httpx.AsyncClient(limits=limits, timeout=60, headers=headers) as http:
        await asyncio.gather(*(client(i, http) for i in range(clients)))
    return latencies, errors, duration


def measure(name: str, url: str, args: argparse.Namespace, texts: list[str]) -> Result:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    before = batch_stats(url, headers)
    latencies, errors, seconds = asyncio.run(
        load(url, texts, args.clients, args.warmup, args.duration, headers, args.seed)
    )
    after = batch_stats(url, headers)
    passes = after[1] - before[1]
    ms = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    return Result(
        config=name,
        clients=args.clients,
        requests=len(latencies),
        errors=errors,
        seconds=seconds,
        rps=len(latencies) / seconds,
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        p99_ms=float(np.percentile(ms, 99)),
        mean_batch=(after[0] - before[0]) / passes if passes else None,
    )


def start_server(model: str, backend: str, batching: bool, args: argparse.Namespace):
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "textclass.cli",
        "-q",
        "serve",
        model,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend",
        backend,
        "--max-batch-size",
        str(args.max_batch_size),
        "--max-wait-ms",
        str(args.max_wait_ms),
        "--forward-batch-size",
        str(args.forward_batch_size),
        "--batching" if batching else "--no-batching",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + args.start_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_server(proc)
    raise RuntimeError(f"server not ready after {args.start_timeout} s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", help="model directory for the torch backend")
    parser.add_argument("--onnx", help="an exported directory (textclass export) for onnx")
    parser.add_argument("--url", help="measure this running server instead")
    parser.add_argument("--api-key", default=os.environ.get("TEXTCLASS_API_KEY"))
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--batching", default="on,off", help="on, off or on,off")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--forward-batch-size", type=int, default=8)
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--start-timeout", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    texts = review_texts(2000, args.seed)
    results: list[Result] = []
    if args.url:
        results.append(measure("server at " + args.url, args.url, args, texts))
    else:
        runs = []
        for model, backend in ((args.model, "torch"), (args.onnx, "onnx")):
            if model:
                for mode in args.batching.split(","):
                    runs.append((model, backend, mode.strip() == "on"))
        if not runs:
            parser.error("give a model directory, --onnx DIR, or --url")
        for model, backend, batching in runs:
            name = f"{backend}, batching {'on' if batching else 'off'}"
            print(f"... {name}: starting the server", file=sys.stderr, flush=True)
            proc, url = start_server(model, backend, batching, args)
            try:
                print(f"... {name}: {args.clients} clients", file=sys.stderr, flush=True)
                results.append(measure(name, url, args, texts))
            finally:
                stop_server(proc)

    print(f"\n{args.clients} concurrent clients, 1 review per request, {args.duration:g} s each")
    print("| configuration | requests/s | p50 ms | p95 ms | p99 ms | texts/pass | errors |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        batch = f"{r.mean_batch:.1f}" if r.mean_batch is not None else "-"
        print(
            f"| {r.config} | {r.rps:.1f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} "
            f"| {batch} | {r.errors} |"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
