"""The ``live_step`` job: one step of the paper (or live) loop, run by the scheduler.

A job in ``jobs/jobs.yaml``::

    - name: paper-step
      kind: live_step
      when: every().day.at('16:30')
      trading_days_only: true
      options: {configs: approved, broker: paper, account: paper}

``configs`` is a list of config ids, or ``approved`` (every approved config). The step acts
on the newest session whose bar is stored and that its book has not stepped yet; a
repeated run for the same session does nothing.
"""

from __future__ import annotations

from typing import Any

from engine.data.bar_sizes import DAILY
from engine.errors import InputError
from engine.live import ledger
from engine.live.runner import step_with_retries
from engine.live.setup import open_loop

OPTIONS = ("configs", "broker", "account", "webhook", "lookback", "mode")


def run_step(store, options: dict[str, Any], *, actor: str) -> str:
    """Run one loop step as ``actor``; gives the one-line summary the job log keeps."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise InputError(
            f"unknown live_step option(s): {', '.join(unknown)}",
            hint=f"options are: {', '.join(OPTIONS)}",
        )
    mode = options.get("mode", "paper")
    if mode == "replay":
        raise InputError("a live_step job steps the paper or live loop", hint="mode: paper")
    config_ids = options.get("configs", "approved")
    if config_ids == "approved":
        from engine.research.config_registry import approved_configs

        config_ids = [c.config_id for c in approved_configs(store)]
        if not config_ids:
            return "no approved configs: nothing to trade"
    from engine.live.setup import load_configs

    intraday = [c.config_id for c in load_configs(store, list(config_ids)) if c.bar_size != DAILY]
    if intraday:
        raise InputError(
            f"config {', '.join(intraday)} trades intraday bars; a live_step job steps a "
            "daily loop once a session",
            hint="run an intraday loop as a service: wb live --mode paper --config ID",
        )
    opened = open_loop(
        store,
        mode=mode,
        config_ids=list(config_ids),
        broker=options.get("broker", "paper"),
        account=options.get("account"),
        webhook=options.get("webhook"),
        lookback=options.get("lookback"),
        actor=actor,
    )
    loop = opened.loop
    newest = loop.feed.latest()
    if newest is None:
        return "no stored bars for the configs' universes: nothing to step"
    done = ledger.read_records(store, loop.book, list(loop.by_id), loop.clock.now()).book
    if done is not None and done.bar_date is not None and done.bar_date >= newest:
        return f"{loop.book}: {newest} already stepped"
    loop.start(newest)
    try:
        report = step_with_retries(loop, newest)
        loop.stop("job step done")
    finally:
        loop.release()  # the scheduler runs on: a failed step must not keep the book
    return f"{loop.book}: {report.summary()}"
