"""The live loop: each bar, apply commands, compute signals, gate, submit, reconcile.

Approved configs trade through one loop whose decisions are the backtest's decisions:
the same signal function (:func:`engine.strategies.compute_signals`) and the same sizing
and stop rules (:mod:`engine.backtest.rules`), so a replay with the paper broker makes the
trades of the vectorbt backtest (:mod:`engine.live.parity`, ``wb parity``).

    >>> from engine.live.setup import open_loop                          # doctest: +SKIP
    >>> from engine.live.runner import run_replay                        # doctest: +SKIP
    >>> opened = open_loop(store, mode="replay", config_ids=["5c0f3e9a"],
    ...                    start="2012-01-03", end="2012-12-31")         # doctest: +SKIP
    >>> reports = run_replay(opened.loop, opened.days)                   # doctest: +SKIP

Modules, in the order a step uses them:

- :mod:`~engine.live.setup` builds a loop from a mode, configs and a broker, with the
  safety checks (approved configs only; real money only behind an explicit flag);
- :mod:`~engine.live.runner` runs it: a replay over stored sessions, or paper and live
  trading on the NYSE clock (:mod:`~engine.live.clock`, bars from :mod:`~engine.live.feed`);
- :mod:`~engine.live.loop` is one step; :mod:`~engine.live.overrides` says what the
  trader's commands (:mod:`~engine.live.commands`) do; :mod:`~engine.live.reconcile`
  compares the store with the broker; :mod:`~engine.live.decisions` decides;
  :mod:`~engine.live.router` is the one way orders are sent (gate, kill switch, cancel,
  submit, record), for the step, the commands and the control room's direct flatten;
  :mod:`~engine.live.gate_state` is the risk gate's view; :mod:`~engine.live.ledger` is the
  loop's tables, :mod:`~engine.live.books` its books in memory (kept between steps by
  :mod:`~engine.live.kept`); :mod:`~engine.live.controls` the trading state that outlives a loop;
  :mod:`~engine.live.ids` names every order by its decision;
- :mod:`~engine.live.book_queries` is how everyone else reads the books (the control room,
  the daily report, ``wb books``), any broker alike; :mod:`~engine.live.drift` explains a
  config's live trading against its backtest (``wb drift``);
- :mod:`~engine.live.alerts` tells a person (log, webhook); :mod:`~engine.live.heartbeat`
  says whether a loop is alive; :mod:`~engine.live.job` is the scheduler's ``live_step``.
"""
