"""Micro-batching of a served predict (``service.batch``): the Batcher on its own, then a
real runner and uvicorn on loopback with concurrent callers."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from runner_helpers import RunningRunner, make_spec, write_notebook

from bodywork_runner.batching import Batcher, BatchError
from tests.projects import free_port

# -- the Batcher -------------------------------------------------------------------------


def _gather(batcher: Batcher, payloads: list[Any], spread: float = 0.0) -> list[Any]:
    async def one(index: int, payload: Any) -> Any:
        await asyncio.sleep(spread * index)
        try:
            return await batcher.submit(payload)
        except Exception as exc:
            return exc

    async def main() -> list[Any]:
        return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(payloads))))

    return asyncio.run(main())


def test_requests_arriving_together_are_one_call_and_each_gets_its_own_answer() -> None:
    calls: list[list[int]] = []

    def predict(batch: list[int]) -> list[int]:
        calls.append(list(batch))
        return [x * 10 for x in batch]

    batcher = Batcher(predict, max_size=8, max_wait=0.05)
    assert _gather(batcher, list(range(5))) == [0, 10, 20, 30, 40]
    assert calls == [[0, 1, 2, 3, 4]]


def test_a_full_batch_goes_at_once_and_the_rest_make_the_next() -> None:
    sizes: list[int] = []

    async def predict(batch: list[int]) -> list[int]:  # an async predict: no thread hop
        sizes.append(len(batch))
        return batch

    batcher = Batcher(predict, max_size=4, max_wait=5.0)  # a wait it must not sit out
    started = time.monotonic()
    assert _gather(batcher, list(range(8))) == list(range(8))
    assert sizes == [4, 4]
    assert time.monotonic() - started < 2


def test_the_first_request_waits_at_most_max_wait() -> None:
    batcher = Batcher(lambda batch: batch, max_size=100, max_wait=0.05)
    started = time.monotonic()
    assert _gather(batcher, ["alone"]) == ["alone"]
    assert time.monotonic() - started < 1
    assert batcher.sizes == [1]


def test_an_exception_in_a_callers_place_is_that_callers_alone() -> None:
    def predict(batch: list[int]) -> list[Any]:
        return [ValueError(f"bad {x}") if x < 0 else x for x in batch]

    answers = _gather(Batcher(predict, max_size=8, max_wait=0.05), [1, -2, 3])
    assert answers[0] == 1 and answers[2] == 3
    assert isinstance(answers[1], ValueError) and str(answers[1]) == "bad -2"


def test_a_call_that_raises_or_miscounts_is_every_callers_error() -> None:
    def boom(batch: list[int]) -> list[int]:
        raise RuntimeError("model exploded")

    answers = _gather(Batcher(boom, max_size=8, max_wait=0.05), [1, 2])
    assert all(isinstance(a, RuntimeError) for a in answers), answers

    answers = _gather(Batcher(lambda batch: batch[:1], max_size=8, max_wait=0.05), [1, 2])
    assert all(isinstance(a, BatchError) for a in answers), answers
    assert "returned 1 answers for 2 requests" in str(answers[0])

    answers = _gather(Batcher(lambda batch: {"y": 1}, max_size=8, max_wait=0.05), [1])
    assert isinstance(answers[0], BatchError) and "returned dict" in str(answers[0])


def test_batches_grow_while_the_model_is_busy() -> None:
    """One batch runs at a time: what arrives meanwhile makes the next, however long the
    wait was (no wait at all here)."""
    sizes: list[int] = []

    def slow(batch: list[int]) -> list[int]:
        sizes.append(len(batch))
        time.sleep(0.05)
        return batch

    batcher = Batcher(slow, max_size=64, max_wait=0.0)
    assert _gather(batcher, list(range(30)), spread=0.004) == list(range(30))
    assert sizes[0] == 1 and max(sizes) > 5, sizes  # the first alone, then they pile up
    assert sum(sizes) == 30


# -- a served notebook ---------------------------------------------------------------------

PREDICT = """\
def predict(requests):
    answers = []
    for request in requests:
        if request.get("fail"):
            answers.append(ValueError(f"no answer for {request['x']}"))
        else:
            answers.append({"y": request["x"] * 2, "batch": len(requests)})
    return answers
"""


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("batching")
    write_notebook(tmp / "project" / "predict.ipynb", PREDICT)
    settings = {
        "port": free_port(),
        "host": "127.0.0.1",
        "batch_max_size": 8,
        "batch_max_wait_ms": 50.0,
    }
    spec = make_spec(tmp / "project", "predict.ipynb", tmp, kind="service", service=settings)
    runner = RunningRunner(spec, tmp)
    try:
        yield runner.wait_for("service.ready", timeout=60)["url"] + "/predict"
        runner.process.send_signal(signal.SIGTERM)
        assert runner.finish(timeout=20) == 0, runner.log()
    finally:
        runner.stop()


def _post(url: str, body: object) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_concurrent_callers_are_batched_and_each_gets_its_own_answer_or_error(url: str) -> None:
    answers: dict[int, tuple[int, Any]] = {}

    def call(x: int) -> None:
        answers[x] = _post(url, {"x": x, "fail": x == 7})

    threads = [threading.Thread(target=call, args=(x,)) for x in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(answers) == list(range(16))
    assert answers[7] == (500, {"error": "predict() raised ValueError: no answer for 7"})
    good = {x: a for x, a in answers.items() if x != 7}
    assert all(status == 200 and body["y"] == x * 2 for x, (status, body) in good.items())
    sizes = [body["batch"] for _, body in good.values()]
    assert max(sizes) > 1 and max(sizes) <= 8, sizes  # batched, never beyond max_size
    # one caller alone still gets an answer, after at most the wait
    started = time.monotonic()
    assert _post(url, {"x": 21}) == (200, {"y": 42, "batch": 1})
    assert time.monotonic() - started < 2
