"""Micro-batching of a served ``predict`` (``service.batch`` in bodywork.yaml).

Requests that arrive together are passed to the model as one list: the first request of
a batch waits at most ``max_wait`` seconds for others (a full batch goes at once), and
while the model works on a batch the requests that come meanwhile make the next one, so
the batches grow with the load by themselves (as Ray Serve's ``@serve.batch`` and
BentoML's adaptive batching do). One batch runs at a time: on a replica the model is one
process's, and running two batches at once would only make both wait for the GIL.

The contract: ``predict(requests: list) -> list``, one answer per request, in order. Each
caller gets its own answer; an exception returned in its place is its own error; an
exception raised by the call, or a list of the wrong length, is every caller's error.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool


class BatchError(Exception):
    """What the whole batch's call did wrong (every caller in it gets it)."""


class Batcher:
    """Collects requests into batches for ``predict`` (async or not: a plain function runs
    off the event loop, one thread hop for the whole batch)."""

    def __init__(self, predict: Callable[..., Any], max_size: int, max_wait: float) -> None:
        self._predict = predict
        self._is_async = inspect.iscoroutinefunction(predict)
        self._name = getattr(predict, "__name__", "predict")
        self.max_size = max_size
        self.max_wait = max_wait
        self._waiting: list[tuple[Any, asyncio.Future[Any]]] = []
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        #: sizes of the batches run so far (the service's log and tests read them)
        self.sizes: list[int] = []

    async def submit(self, payload: Any) -> Any:
        """``payload``'s answer, computed in a batch (or its own exception, raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((payload, future))
        self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._work())
        return await future

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            deadline = loop.time() + self.max_wait
            while len(self._waiting) < self.max_size:
                left = deadline - loop.time()
                if left <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    break
            batch = self._waiting[: self.max_size]
            del self._waiting[: self.max_size]
            # a caller that went away (its connection closed) is left out
            batch = [(payload, future) for payload, future in batch if not future.done()]
            if batch:
                await self._run(batch)

    async def _run(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        payloads = [payload for payload, _ in batch]
        self.sizes.append(len(payloads))
        try:
            if self._is_async:
                answers = await self._predict(payloads)
            else:
                answers = await run_in_threadpool(self._predict, payloads)
            answers = self._check(answers, len(payloads))
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    def _check(self, answers: Any, wanted: int) -> list[Any]:
        if hasattr(answers, "tolist") and not isinstance(answers, list | tuple):
            answers = answers.tolist()  # a numpy array of answers, one per request
        if not isinstance(answers, list | tuple):
            raise BatchError(
                f"{self._name}() returned {type(answers).__name__}: with service.batch it "
                "is given a list of requests and returns a list of answers, one per request"
            )
        if len(answers) != wanted:
            raise BatchError(
                f"{self._name}() returned {len(answers)} answers for {wanted} requests: "
                "with service.batch it returns one answer per request, in order"
            )
        return list(answers)
