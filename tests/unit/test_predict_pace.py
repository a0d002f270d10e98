"""Where a plain ``predict`` runs (runner/bodywork_runner/serving.py, ``Pace``): the
decisions, fed with call times as the serving path records them."""

from __future__ import annotations

import time

from bodywork_runner.serving import INLINE_PREDICT_SECONDS, PROBE_EVERY, Pace

CHEAP = INLINE_PREDICT_SECONDS / 4
#: a cheap predict timed in a thread while the loop holds the GIL for other connections
INFLATED = INLINE_PREDICT_SECONDS * 6
SLOW = INLINE_PREDICT_SECONDS * 20


def _places(
    pace: Pace, calls: int, seconds: float | None, cpu: float | None = None, payload: object = None
) -> list[str]:
    """Where ``calls`` calls went, each recorded as taking ``seconds`` (and ``cpu``), or,
    with ``seconds`` None, each a real call of the predict with ``payload``."""
    places = []
    for _ in range(calls):
        place = pace.place()
        if seconds is None:
            pace.call(payload, place)
        else:
            pace.record(seconds, place, cpu)
        places.append(place)
    return places


def test_unknown_goes_to_a_thread_then_a_cheap_predict_runs_on_the_loop() -> None:
    pace = Pace(lambda row: row)
    assert _places(pace, 3, CHEAP) == ["thread", "loop", "loop"]
    assert pace.call(7) == 7 and pace.inline


def test_a_predict_kept_in_the_thread_pool_by_gil_waits_comes_back_on_a_try() -> None:
    pace = Pace(lambda row: row)
    _places(pace, 1, INFLATED)
    places = _places(pace, PROBE_EVERY - 1, INFLATED)
    assert set(places) == {"thread"}  # its times in threads alone would keep it there
    assert pace.place() == "probe"
    pace.record(INFLATED, "probe", CHEAP)  # its CPU time: cheap (preempted meanwhile)
    assert pace.place() == "loop"
    # calls sent to threads before the try end later: their times do not count
    for _ in range(32):
        pace.record(INFLATED, "thread")
    assert pace.place() == "loop"


def test_a_slow_predict_is_tried_on_the_loop_less_and_less_often() -> None:
    pace = Pace(lambda row: row)
    _places(pace, 1, SLOW)
    places = _places(pace, PROBE_EVERY * 7, SLOW)
    tries = [index for index, place in enumerate(places) if place == "probe"]
    # after 64 calls, then 128, then 256 more
    assert tries == [PROBE_EVERY - 1, 3 * PROBE_EVERY - 1, 7 * PROBE_EVERY - 1]
    assert not pace.inline


def test_a_slow_call_on_the_loop_sends_the_next_ones_to_threads() -> None:
    pace = Pace(lambda row: row)
    _places(pace, 4, CHEAP)
    assert _places(pace, 3, SLOW) == ["loop", "thread", "thread"]


def _until_try(pace: Pace, seconds: float) -> int:
    """Calls in threads (each taking ``seconds``) until the next try; their count."""
    count = 0
    while (place := pace.place()) == "thread":
        pace.record(seconds, place)
        count += 1
    assert place == "probe"
    return count


def test_a_predict_that_waits_is_not_brought_back_by_its_cpu_time() -> None:
    pace = Pace(lambda row: row)
    _places(pace, 1, SLOW)
    assert _until_try(pace, SLOW) == PROBE_EVERY - 1
    # a try that waited 20 ms (I/O, a lock) with next to no CPU: it stays in threads
    pace.record(SLOW, "probe", CHEAP / 10)
    assert not pace.inline
    assert _until_try(pace, SLOW) == 2 * PROBE_EVERY - 1
    # one that waited 5 ms: back on the loop, and out again within a few calls there
    waits = INLINE_PREDICT_SECONDS * 5
    pace.record(waits, "probe", CHEAP / 10)
    assert _places(pace, 4, waits) == ["loop", "loop", "loop", "thread"]
    # the try misjudged it: the next one comes twice as late
    assert _until_try(pace, waits) == 4 * PROBE_EVERY - 2


def test_a_predict_that_stays_on_the_loop_is_tried_early_again_once_it_leaves() -> None:
    pace = Pace(lambda row: row)
    _places(pace, 1, INFLATED)
    for _ in range(2):  # two tries that fail: 64, then 128 calls
        _until_try(pace, INFLATED)
        pace.record(INFLATED, "probe", INFLATED)
    _until_try(pace, INFLATED)
    pace.record(CHEAP, "probe", CHEAP)
    assert set(_places(pace, 20, CHEAP)) == {"loop"}
    _places(pace, 1, SLOW * 5)  # one slow call: to threads, where it looks slow
    assert _until_try(pace, INFLATED) == PROBE_EVERY - 1


def test_the_first_call_in_a_thread_is_judged_by_its_cpu_time() -> None:
    # a loaded machine: the first call waited for the GIL and the cores, cheap on CPU
    pace = Pace(lambda row: row)
    assert pace.place() == "thread"
    pace.record(INFLATED, "thread", CHEAP)
    assert pace.place() == "loop"
    # one that waited on I/O longer than a try may: judged by its time, in threads
    waiting = Pace(lambda row: row)
    waiting.record(SLOW, waiting.place(), CHEAP / 10)
    assert waiting.place() == "thread"


def test_a_cheap_predict_preempted_on_the_loop_stays_there() -> None:
    # the machine ran something else for 20 ms in the middle of a cheap call, twice in a row
    pace = Pace(lambda row: row)
    _places(pace, 4, CHEAP)
    for _ in range(2):
        pace.record(SLOW, pace.place(), CHEAP)
    assert pace.place() == "loop"
    _places(pace, 10, CHEAP)
    # and in one call of every four, for a while
    places = []
    for call in range(40):
        place = pace.place()
        pace.record(SLOW if call % 4 == 0 else CHEAP, place, CHEAP)
        places.append(place)
    assert set(places) == {"loop"}


def test_a_predict_that_waits_on_the_loop_leaves_it_within_a_few_calls() -> None:
    pace = Pace(lambda row: row)
    _places(pace, 4, CHEAP)
    # 5 ms of I/O in every call, next to no CPU
    places = _places(pace, 4, INLINE_PREDICT_SECONDS * 5, CHEAP / 10)
    assert places == ["loop", "loop", "loop", "thread"]


def test_calls_on_the_loop_are_judged_by_their_cpu_time() -> None:
    # a real predict that sleeps: next to no CPU time, and it waits in every call
    sleeps = Pace(lambda seconds: time.sleep(seconds))
    sleeps.record(CHEAP, sleeps.place(), CHEAP)
    places = _places(sleeps, 4, None, payload=INLINE_PREDICT_SECONDS * 3)
    assert places == ["loop", "loop", "loop", "thread"]
    # a cheap one: on the loop throughout
    cheap = Pace(lambda rows: sum(range(rows)))
    cheap.record(CHEAP, cheap.place(), CHEAP)
    assert set(_places(cheap, 50, None, payload=100)) == {"loop"}
