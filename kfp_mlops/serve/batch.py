"""Micro-batching: requests that wait while the model runs are predicted together in one call.

One call of the demo pipeline costs about the same for 1 row as for 16 (the ColumnTransformer's
fixed cost dominates), so at concurrency 16 the server's time went to calling sklearn once per
row. Each request is still validated on its own (its 400 stays its own); only the model call is
shared. Nothing waits for company by default: a request that finds the model idle runs at once.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import pandas as pd

from kfp_mlops.serve.frame import Rows
from kfp_mlops.serve.model import Prediction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batching:
    """How requests are batched: rows per model call, and the wait for company (0: none)."""

    max_rows: int = 256
    wait_seconds: float = 0.0


def one_thread() -> None:
    """Limit OpenMP and BLAS to one thread in the predicting thread.

    The limit is per thread: the one set at start-up does not reach this thread, and OpenMP's
    start-up on every call tripled a single row's latency (benchmarks/serve.py).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


@dataclass
class _Job:
    frame: pd.DataFrame
    done: asyncio.Future = field(repr=False)


def split(answer: Prediction, sizes: list[int]) -> list[Prediction]:
    """One batched answer cut back into each request's rows, in the order they were joined."""
    parts, start = [], 0
    for size in sizes:
        end = start + size
        cut = slice(start, end)
        proba = None if answer.probabilities is None else answer.probabilities[cut]
        codes = None if answer.codes is None else answer.codes[cut]
        array = None if answer.proba is None else answer.proba[cut]
        parts.append(Prediction(answer.labels[cut], proba, codes, array))
        start = end
    return parts


def take(queue: list, max_rows: int) -> list:
    """The jobs one model call takes from the front: at least one, then while rows fit."""
    taken, rows = [queue[0]], len(queue[0].frame)
    for job in queue[1:]:
        if rows + len(job.frame) > max_rows:
            break
        taken.append(job)
        rows += len(job.frame)
    del queue[: len(taken)]
    return taken


def predict_jobs(predict: Callable[[pd.DataFrame], Prediction], frames: list) -> list:
    """Each frame's Prediction, or the exception its rows raised, from as few calls as possible.

    One call on the joined frames; if that fails, each frame alone, so one request whose rows
    break the model fails by itself and the others in its batch are still answered.
    """
    if len(frames) == 1:
        try:
            return [predict(frames[0])]
        except Exception as exc:  # handed to the request it belongs to
            return [exc]
    try:
        joined = (
            Rows.join(frames)
            if isinstance(frames[0], Rows)
            else pd.concat(frames, ignore_index=True)
        )
        return split(predict(joined), [len(f) for f in frames])
    except Exception as exc:  # isolated below
        log.warning("a batch of %d requests failed (%r); predicting each alone", len(frames), exc)
    return [predict_jobs(predict, [f])[0] for f in frames]


class Batcher:
    """A queue of validated frames and one task that predicts whatever has queued, in one call.

    Args:
        predict: The model call on a frame (ServedModel.predict); it runs in `executor`, so the
            event loop keeps reading and validating requests meanwhile.
        executor: Where `predict` runs: one thread, so calls never overlap; the batcher owns
            it and shuts it down in close().
        max_rows: Rows one call takes at most (a single request above it still runs alone).
        wait_seconds: How long the first request of a batch waits for company (0: never).
        on_batch: Told the number of requests of each model call (the batch-size metric).
    """

    def __init__(
        self,
        predict: Callable[[pd.DataFrame], Prediction],
        executor: Executor,
        max_rows: int = 256,
        wait_seconds: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ):
        self.predict, self.executor, self.on_batch = predict, executor, on_batch
        self.max_rows, self.wait_seconds = max_rows, wait_seconds
        self._queue: list[_Job] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._closing = False
        self.batches = 0  # model calls made, for tests and logs

    def start(self) -> "Batcher":
        """Start the worker task on the running event loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def submit(self, frame: pd.DataFrame) -> Prediction:
        """Queue a validated frame; its Prediction, or the exception predicting it raised."""
        if self._task is None or self._closing:
            raise RuntimeError("the batcher is not running; the server is shutting down")
        job = _Job(frame, asyncio.get_running_loop().create_future())
        self._queue.append(job)
        self._wake.set()
        return await job.done

    async def close(self) -> None:
        """Predict everything queued, then stop the worker (graceful shutdown)."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        await self._task
        self._task = None
        self.executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.wait_seconds > 0 and not self._closing:
                await asyncio.sleep(self.wait_seconds)
            jobs = take(self._queue, self.max_rows)
            frames = [job.frame for job in jobs]
            self.batches += 1
            if self.on_batch is not None:
                self.on_batch(len(jobs))
            try:
                results = await loop.run_in_executor(
                    self.executor, predict_jobs, self.predict, frames
                )
            except Exception as exc:  # the worker outlives any one batch
                results = [exc] * len(jobs)
            for job, result in zip(jobs, results, strict=True):
                if job.done.done():  # the client went away; nobody reads this answer
                    continue
                if isinstance(result, Exception):
                    job.done.set_exception(result)
                else:
                    job.done.set_result(result)
