"""Dynamic batching: the texts of concurrent requests gathered into shared forward passes,
run one at a time in a worker thread; and the LRU cache of predictions by cleaned text."""

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from textclass.serving.middleware import ServeMetrics

log = logging.getLogger(__name__)


class LRUCache:
    """Model outputs (a row of probabilities, or a value) of recently seen (cleaned text,
    cleaned pair) keys; size 0 = off."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict[tuple[str, str | None], np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: tuple[str, str | None]) -> np.ndarray | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: tuple[str, str | None], value: np.ndarray) -> None:
        if self.size <= 0:
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)


class Overloaded(Exception):
    pass


@dataclass
class _Job:
    texts: list[str]
    pairs: list[str] | None
    future: asyncio.Future


PredictFn = Callable[[list[str], "list[str] | None"], np.ndarray]


class DynamicBatcher:
    """Gathers the texts of concurrent requests into shared forward passes.

    A pass starts when `max_batch_size` texts are waiting or `max_wait_ms` after its first
    request arrived, whichever is first; requests that arrive while a pass runs form the next
    one. Passes run one at a time in a worker thread (the model uses all cores itself), so the
    event loop stays free. With `enabled=False` every request is its own pass.
    """

    def __init__(
        self,
        predict: PredictFn,
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 2.0,
        enabled: bool = True,
        max_queue: int = 4096,
        metrics: ServeMetrics | None = None,
    ):
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.enabled = enabled
        self.max_queue = max_queue
        self.metrics = metrics
        self.queued_texts = 0
        self._jobs: deque[_Job] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="textclass-inference")
        self._task = asyncio.create_task(self._loop(), name="textclass-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._jobs:
            job = self._jobs.popleft()
            if not job.future.done():
                job.future.set_exception(Overloaded("the server is shutting down"))
        self.queued_texts = 0
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        """The model's output rows for `texts` (already cleaned), once their pass has run."""
        if not self.running or self._wake is None:
            raise Overloaded("the model is not running")
        if self.queued_texts + len(texts) > self.max_queue and self.queued_texts > 0:
            raise Overloaded(f"{self.queued_texts} texts are already waiting (max_queue)")
        future = asyncio.get_running_loop().create_future()
        self._jobs.append(_Job(texts, pairs, future))
        self._set_queued(self.queued_texts + len(texts))
        self._wake.set()
        return await future

    def _set_queued(self, n: int) -> None:
        self.queued_texts = n
        if self.metrics is not None:
            self.metrics.queued.set(n)

    def _waiting_texts(self) -> int:
        return sum(len(job.texts) for job in self._jobs if not job.future.done())

    async def _loop(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._jobs:
                self._wake.clear()
                await self._wake.wait()
            if self.enabled and self.max_wait > 0:
                deadline = loop.time() + self.max_wait
                while self._waiting_texts() < self.max_batch_size:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    self._wake.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), remaining)
            batch = self._take()
            if batch:
                await self._run(batch, loop)

    def _take(self) -> list[_Job]:
        """Jobs for one pass: the first waiting one, then more while they fit."""
        batch: list[_Job] = []
        n = 0
        while self._jobs:
            job = self._jobs[0]
            if job.future.done():  # timed out or cancelled while waiting
                self._jobs.popleft()
                self._set_queued(self.queued_texts - len(job.texts))
                continue
            if batch and (not self.enabled or n + len(job.texts) > self.max_batch_size):
                break
            self._jobs.popleft()
            self._set_queued(self.queued_texts - len(job.texts))
            batch.append(job)
            n += len(job.texts)
        return batch

    async def _run(self, batch: list[_Job], loop: asyncio.AbstractEventLoop) -> None:
        texts = [t for job in batch for t in job.texts]
        has_pairs = batch[0].pairs is not None
        pairs = [p for job in batch for p in (job.pairs or [])] if has_pairs else None
        start = time.perf_counter()
        try:
            rows = await loop.run_in_executor(self._executor, self.predict, texts, pairs)
        except asyncio.CancelledError:  # shutting down: nobody waits forever
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(Overloaded("the server is shutting down"))
            raise
        except Exception as exc:  # reported to the requests of this pass only
            log.exception("prediction failed for a batch of %d texts", len(texts))
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        if self.metrics is not None:
            self.metrics.inference.observe(time.perf_counter() - start)
            self.metrics.batch_size.observe(len(texts))
            self.metrics.texts.inc(len(texts))
        offset = 0
        for job in batch:
            part = rows[offset : offset + len(job.texts)]
            offset += len(job.texts)
            if not job.future.done():
                job.future.set_result(part)
