"""Running a loop: a replay over stored sessions, or paper and live trading on the NYSE clock.

A run starts by reconciling (:meth:`LiveLoop.start`), then steps each session it has not
stepped yet: a replay started again after a crash picks up at the first session whose step
did not finish (the book remembers the last one that did). Trouble outside us (the broker
unreachable, the store locked) is recorded, alerted and retried with backoff; trouble that
needs a person (OperatorError) stops the run.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date

from engine.data.bar_sizes import DAILY
from engine.errors import TemporaryError
from engine.live import heartbeat, ledger
from engine.live.alerts import Alert
from engine.live.clock import BarClose
from engine.live.loop import LiveLoop, StepReport
from engine.store.events import append_events

log = logging.getLogger("engine.live")


def run_replay(
    loop: LiveLoop,
    days: list[date] | list[BarClose],
    *,
    progress: bool = False,
    attempts: int = 6,
    sleep: Callable[[float], None] = time.sleep,
    on_step: Callable[[StepReport], None] | None = None,
) -> list[StepReport]:
    """Step ``loop`` through ``days``, sessions or intraday bars (skipping those its book
    already stepped); gives the reports."""
    if not days:
        return []
    # The replay holds the store file open from step to step (the book lock makes it the
    # one writer of its book), giving way between steps to any process waiting for it.
    with loop.holding() as held:
        loop.start(_first_undone(loop, days) or days[0])
        try:
            todo = [d for d in days if loop.last_bar is None or d > loop.last_bar]
            reports = []
            rest = _resting_sleep(held, sleep)  # a failed step's pause: nobody kept out
            for day in _progress(todo, progress, loop):
                report = step_with_retries(loop, day, attempts=attempts, sleep=rest)
                reports.append(report)
                if on_step is not None:
                    on_step(report)
                if held is not None:
                    held.give_way()
            loop.stop("replay finished")
            return reports
        finally:
            loop.release()  # a step that failed: the book is free for the loop started next


def _first_undone(loop: LiveLoop, days):
    book = ledger.read_records(loop.store, loop.book, list(loop.by_id), loop.clock.now()).book
    done = loop.stepped(book)
    return next((d for d in days if done is None or d > done), None)


def step_with_retries(
    loop: LiveLoop, day: date, *, attempts: int = 6, sleep: Callable[[float], None] = time.sleep
) -> StepReport:
    """``loop.step(day)``, tried again after temporary trouble (recorded and alerted each time)."""
    for attempt in range(1, attempts + 1):
        try:
            return loop.step(day)
        except TemporaryError as exc:
            _record_trouble(loop, day, exc, attempt, attempts)
            if attempt == attempts:
                raise
            sleep(random.uniform(0, min(30.0, 0.5 * 2 ** (attempt - 1))))
    raise AssertionError("unreachable")


def _record_trouble(loop: LiveLoop, day: date, exc: TemporaryError, attempt: int, attempts: int):
    loop.notifier.send(
        Alert("broker", f"step {day} failed (attempt {attempt} of {attempts}): {exc.message}")
    )

    faults = loop.faults.events()

    def write(con):
        failed = {"error": exc.message, "attempt": attempt}
        append_events(con, loop.actor, [*faults, ("loop.step_failed", str(day), failed)])

    try:
        loop.store.transaction(write)
        loop.faults.written(len(faults))
    except TemporaryError:
        log.warning("could not record the failed step %s: the store is busy", day)


def run_market(
    loop: LiveLoop,
    clock,
    *,
    tick: float | None = None,
    stale_retry: float = 300.0,
    sessions: int | None = None,
    steps: int | None = None,
) -> list[StepReport]:
    """Trade on the NYSE clock: sleep until each bar's step is due (beating the heartbeat
    and applying commands every ``tick`` seconds, by default a quarter of the heartbeat's
    stale setting), then step; gives the reports. ``sessions`` and ``steps`` bound the run.

    A daily loop steps after each session's close; a stale feed is retried every
    ``stale_retry`` seconds until the next session's close. An intraday loop steps a few
    seconds after each bar's close (:meth:`MarketClock.next_bar`): its feed waits a bounded
    time for the bar, and a bar that has not come by then is skipped with an alert (the
    next bar's step is due soon, and an order sent late would trade on a bar its strategy
    did not decide on). A flat-by-close book sells out on time either way
    (:meth:`LiveLoop.step`).

    On a simulated broker the loop keeps the store file open from step to step
    (:meth:`LiveLoop.holding`); while it sleeps, any process that waits for the file gets it
    within milliseconds (:meth:`Hold.idle <engine.store.db.Hold.idle>`), and the next step
    takes it back. Heartbeats and commands between steps work either way.
    """
    tick = heartbeat.beat_every_s() if tick is None else tick
    heartbeat.check_beat_interval(tick)  # beating less often, it would look dead between beats
    daily = loop.bar_size == DAILY
    # Held from step to step (opening and closing the file was a third of a 500-symbol
    # step). Safe for the loop's caches: the book lock makes it its book's one writer, and
    # what others write while it sleeps it reads as it would without the hold (the
    # versions they bump, the commands they queue), the file let go to them meanwhile.
    with loop.holding() as held:
        first = clock.next_bar(_last_done(loop))
        loop.start(first.session if daily else first)
        if hasattr(loop.feed, "start"):
            loop.feed.start()  # a stream subscribes now, to have the first bar's minutes
        reports: list[StepReport] = []
        finished = 0  # sessions whose last step is done

        def idle():
            loop.apply_commands(clock.now())
            loop.heartbeat()

        def wait_until(when):
            with _resting(held):
                clock.wait_until(when, tick=tick, on_tick=idle)

        sleep = _resting_sleep(held, time.sleep)  # between a failed step's tries

        try:
            while (sessions is None or finished < sessions) and (
                steps is None or len(reports) < steps
            ):
                bar = clock.next_bar(loop.last_bar)
                wait_until(clock.bar_due(bar))
                if daily:
                    report = _step_session(loop, clock, bar.session, stale_retry, wait_until, sleep)
                else:
                    report = step_with_retries(loop, bar, sleep=sleep)
                    if report.skipped:
                        loop.last_bar = bar  # its moment is gone: the next bar's step is next
                reports.append(report)
                finished += bar.last
                log.info("%s", report.summary())
            loop.stop("finished")
            return reports
        finally:
            if hasattr(loop.feed, "stop"):
                loop.feed.stop()
            loop.release()


def _resting(held):
    """The store file let go to any process that waits while the loop sleeps (a held one)."""
    return nullcontext() if held is None else held.idle()


def _resting_sleep(held, sleep: Callable[[float], None]) -> Callable[[float], None]:
    """``sleep`` with the store file let go meanwhile to any process that waits for it."""

    def rest(seconds: float) -> None:
        with _resting(held):
            sleep(seconds)

    return rest


def _step_session(loop: LiveLoop, clock, day: date, stale_retry: float, wait_until, sleep):
    """A daily loop's step for ``day``, retried on a stale feed until the next session's
    close (then skipped, with an alert)."""
    report = step_with_retries(loop, day, sleep=sleep)
    deadline = clock.due(clock.next_session(day))
    while report.skipped and clock.now() < deadline:
        wait_until(min(_after(clock, stale_retry), deadline))
        report = step_with_retries(loop, day, sleep=sleep)
    if report.skipped:
        loop.notifier.send(
            Alert("stale_data", f"no decisions were taken for {day}: {report.skipped}")
        )
        loop.last_bar = day  # the session is gone: move on to the next
    return report


def _last_done(loop: LiveLoop) -> date | BarClose | None:
    """The last bar the loop's book stepped (a session date for a daily loop)."""
    book = ledger.read_records(loop.store, loop.book, list(loop.by_id), loop.clock.now()).book
    return loop.stepped(book)


def _after(clock, seconds: float):
    from datetime import timedelta

    return clock.now() + timedelta(seconds=seconds)


def _progress(days, show: bool, loop: LiveLoop):
    if not show:
        return days
    from tqdm import tqdm

    return tqdm(days, desc=f"replay {loop.book}", unit="bar")
