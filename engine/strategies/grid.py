"""Signals for many parameter sets at once, as one wide frame a sweep hands to vectorbt.

Columns are a MultiIndex of the params fields (in the model's order) then ``symbol``: one
block of symbols per params set, in the order the sets were given. A strategy with a
``grid_fn`` computes the whole grid in one vectorized call (each distinct window once);
any other strategy is called once per set and the blocks are joined. Both give the same
values, checked by the same guard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from engine.data.bars import Bars
from engine.errors import InputError
from engine.strategies.base import Signals, Strategy, StrategyError, StrategyParams
from engine.strategies.guard import (
    call_strategy,
    check_bars,
    check_history,
    checked_signals,
    private_view,
)
from engine.strategies.registry import get, make_params


def grid_columns(params_list: Sequence[StrategyParams], symbols: Sequence[str]) -> pd.MultiIndex:
    """The sweep's columns: (params field values..., symbol) for each set, then each symbol."""
    fields = list(type(params_list[0]).model_fields)
    rows = [
        (*(getattr(params, key) for key in fields), symbol)
        for params in params_list
        for symbol in symbols
    ]
    return pd.MultiIndex.from_tuples(rows, names=[*fields, "symbol"])


def signals_for_grid(
    strategy: str | Strategy,
    bars: Bars,
    params_list: Sequence[StrategyParams | Mapping[str, Any]],
    *,
    progress: bool | None = None,
) -> Signals:
    """The strategy's signals for every params set, side by side (see the module docstring).

    ``progress`` shows a bar while calling the strategy set by set (None: only in a
    terminal or notebook).
    """
    strategy = get(strategy)
    params_list = [make_params(strategy, params) for params in params_list]
    if not params_list:
        raise InputError(
            f"{strategy.name}: the parameter grid has no combinations",
            hint="check the grid's ranges (start:stop:step, stop exclusive) and that some "
            "combinations pass the strategy's rules (e.g. fast < slow)",
        )
    seen: set[StrategyParams] = set()
    for params in params_list:
        if params in seen:
            raise InputError(
                f"{strategy.name}: the grid has {params!r} twice",
                hint="each combination may appear once; de-duplicate the grid",
            )
        seen.add(params)
    check_bars(strategy, bars)
    for params in params_list:
        check_history(strategy, bars, params)

    columns = grid_columns(params_list, bars.symbols)
    has_bar = bars.close.notna()
    if strategy.grid_fn is not None:
        signals = call_strategy(strategy, strategy.grid_fn, private_view(bars), params_list)
        return checked_signals(strategy, signals, bars.index, columns, has_bar)

    blocks = []
    disable = None if progress is None else not progress
    for params in tqdm(params_list, desc=f"{strategy.name} signals", disable=disable):
        raw = call_strategy(strategy, strategy.signal_fn, private_view(bars), params)
        blocks.append(checked_signals(strategy, raw, bars.index, bars.close.columns, has_bar))
    return _joined(strategy, blocks, columns)


def _joined(strategy: Strategy, blocks: list[Signals], columns: pd.MultiIndex) -> Signals:
    with_stops = {block.stop_distance is not None for block in blocks}
    if len(with_stops) > 1:
        raise StrategyError(
            strategy.name,
            "returned a stop_distance for some parameter sets and None for others",
            hint="return a stop distance for every set, or for none",
        )

    def join(frames: list[pd.DataFrame]) -> pd.DataFrame:
        joined = pd.concat(frames, axis=1, ignore_index=True)
        joined.columns = columns
        return joined

    return Signals(
        entries=join([block.entries for block in blocks]),
        exits=join([block.exits for block in blocks]),
        stop_distance=join([block.stop_distance for block in blocks])
        if True in with_stops
        else None,
    )
