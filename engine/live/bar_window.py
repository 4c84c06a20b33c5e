"""The bars a feed keeps between steps, as numpy arrays, handed out as :class:`Bars` without copying.

A step's window is the last N bars up to its bar, adjusted (what decisions read) and as
traded (what orders, fills and marks read). Slicing pandas frames for it, or rebuilding
them from long rows, costs a step more than its signals on a few symbols and tens of
milliseconds on 500. A :class:`BarWindow` keeps one array per field (bars x symbols, the
feed's symbol order) in a buffer with room to grow: a new bar is written after the last,
a window is a view of the rows it spans, and the frames handed out are read-only views of
those rows. A row once written is never written again (a full buffer is copied to a new
one), so a window handed out earlier stays what it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from engine.data.bars import FIELDS, Bars, adjustment_factors

#: The columns of a stored row the window is built from, in this order.
ROW_FIELDS = (*FIELDS, "adj_close")


def adjusted_prices(traded: np.ndarray) -> np.ndarray:
    """The split- and dividend-adjusted fields of ``traded`` (its rows: open, high, low,
    close, volume, adj_close along the first axis), as :meth:`Bars.from_long` adjusts them
    (:func:`~engine.data.bars.adjustment_factors`)."""
    factor = adjustment_factors(traded[3], traded[5])
    adjusted = traded[:5] * factor
    adjusted[4] = traded[4] / factor
    return adjusted


class BarWindow:
    """Bars of ``symbols`` at the times of ``index``, as traded and adjusted (each an array
    of shape fields x bars x symbols), with the sources of each bar's row."""

    def __init__(self, index: pd.DatetimeIndex, symbols: Sequence[str] | pd.Index, traded: np.ndarray,
                 adjusted: np.ndarray, sources: list[frozenset] | frozenset, *, bar_size: str,
                 extended_hours: bool = False, spare: int = 0):  # fmt: skip
        n = len(index)
        self.symbols = symbols if isinstance(symbols, pd.Index) else pd.Index(list(symbols))
        self.bar_size, self.extended_hours = bar_size, extended_hours
        self._index = index
        cap = n + spare
        self._traded = np.empty((5, cap, len(self.symbols)))
        self._adjusted = np.empty_like(self._traded)
        self._traded[:, :n], self._adjusted[:, :n] = traded, adjusted
        # One set per bar; or one set for all of them (a replay's bars: no per-bar list to scan).
        self._sources: list[frozenset] | frozenset = sources
        self._first, self._stop = 0, n
        #: How far the buffer is written, shared by the windows on it: only the window that
        #: wrote last may write after it (an older one copies to a new buffer instead).
        self._written = [n]

    @classmethod
    def of(cls, adjusted: Bars, traded: Bars) -> BarWindow:
        """A window on ``adjusted`` and ``traded`` (the same bars and symbols: ``traded`` is
        laid out as ``adjusted``, so a row of one is the same bar in the other)."""
        index, columns = adjusted.index, adjusted.open.columns
        fields = [np.stack([getattr(b, f).reindex(index=index, columns=columns).to_numpy(dtype=float)
                            for f in FIELDS])
                  for b in (traded, adjusted)]  # fmt: skip
        return cls(index, columns, *fields, frozenset(adjusted.sources),
                   bar_size=adjusted.bar_size, extended_hours=adjusted.extended_hours)

    @classmethod
    def from_rows(cls, symbols: Sequence[str], dates: np.ndarray, column: np.ndarray,
                  rows: np.ndarray, sources: dict, *, bar_size: str, spare: int = 0) -> BarWindow:  # fmt: skip
        """A window from stored rows: ``dates`` (datetime64), ``column`` (each row's symbol's
        position in ``symbols``), ``rows`` (:data:`ROW_FIELDS` x rows), ``sources`` (per date,
        the set of sources of its rows). A symbol with no row at a date has NaN there."""
        days, at = np.unique(dates, return_inverse=True)
        traded = _spread(rows, at, column, len(days), len(symbols))
        index = pd.DatetimeIndex(days, name="date")
        return cls(index, symbols, traded[:5], adjusted_prices(traded),
                   [sources.get(d, frozenset()) for d in index], bar_size=bar_size, spare=spare)  # fmt: skip

    # -- what it holds ---------------------------------------------------------------------

    def __len__(self) -> int:
        return self._stop - self._first

    @property
    def index(self) -> pd.DatetimeIndex:
        """The times of the bars held, oldest first."""
        return self._index

    def empty_columns(self, label: pd.Timestamp, lookback: int) -> bool:
        """True when some symbol has no bar at all in the window :meth:`through` gives."""
        stop = int(self._index.searchsorted(label, side="right"))
        closes = self._traded[3, self._first + max(stop - lookback, 0) : self._first + stop]
        return bool(np.isnan(closes).all(axis=0).any())

    # -- windows ---------------------------------------------------------------------------

    def through(self, label: pd.Timestamp, lookback: int | None) -> tuple[Bars, Bars]:
        """The last ``lookback`` bars up to and including ``label`` (None: all), adjusted and as traded."""
        stop = int(self._index.searchsorted(label, side="right"))
        start = 0 if lookback is None else max(stop - lookback, 0)
        return self._bars(start, stop)

    def _bars(self, start: int, stop: int) -> tuple[Bars, Bars]:
        index = self._index[start:stop]
        rows = slice(self._first + start, self._first + stop)
        sources = self._sources
        sources = tuple(sorted(sources)) if isinstance(sources, frozenset) else _union(sources[start:stop])
        return tuple(Bars.from_arrays(index, self.symbols, fields[:, rows], bar_size=self.bar_size,
                                      extended_hours=self.extended_hours, sources=sources)
                     for fields in (self._adjusted, self._traded))  # fmt: skip

    def appended(self, dates: np.ndarray, column: np.ndarray, rows: np.ndarray, sources: dict,
                 start: pd.Timestamp, bar: pd.Timestamp, lookback: int) -> BarWindow:  # fmt: skip
        """This window with the stored ``rows`` of later dates after it (see :meth:`from_rows`),
        from ``start``, no more than ``lookback`` bars before ``bar`` (the rows after it
        kept): at ``bar``, what a whole read of the store gives (a bar is built from its own
        row alone). This window is left as it was."""
        days, at = np.unique(dates, return_inverse=True)
        traded = _spread(rows, at, column, len(days), len(self.symbols))
        grown = self._room(len(days), lookback)
        new = slice(grown._stop, grown._stop + len(days))
        grown._traded[:, new], grown._adjusted[:, new] = traded[:5], adjusted_prices(traded)
        grown._stop = grown._written[0] = new.stop
        index = pd.DatetimeIndex(days, name=self._index.name)
        grown._index = self._index.append(index) if len(self._index) else index
        kept = self._sources
        kept = [kept] * len(self._index) if isinstance(kept, frozenset) else kept
        grown._sources = kept + [sources.get(d, frozenset()) for d in index]
        # From start, the last lookback bars up to bar.
        first = int(grown._index.searchsorted(start, side="left"))
        first = max(first, int(grown._index.searchsorted(bar, side="right")) - lookback)
        grown._index = grown._index[first:]
        grown._sources = grown._sources[first:]
        grown._first += first
        return grown

    def with_rows(self, times: pd.DatetimeIndex, column: np.ndarray, rows: np.ndarray,
                  sources: frozenset, lookback: int) -> BarWindow:  # fmt: skip
        """This window with long ``rows`` written in (``times``: each row's bar; ``column``
        and ``rows``: as :meth:`from_rows`; a row repeated: the last one), the last
        ``lookback`` bars kept: a bar held is replaced where a row changes it (the source
        corrected it), a later bar added after the last. This window is left as it was: a
        change to a bar held, or a bar before the last, is written to a new buffer."""
        codes, days = pd.factorize(times, sort=True)
        bars = (self._index.union(days) if len(self._index) else days)[-lookback:].rename(self._index.name)
        where = bars.get_indexer(days)[codes]  # each row's bar among those kept (-1: too old)
        where, column, rows = _last_of_each(where, np.asarray(column, dtype=np.intp), rows,
                                            len(self.symbols))  # fmt: skip
        traded, adjusted = rows[:5], adjusted_prices(rows)
        # The bars held that stay (the last ``kept`` rows) and whether any given row comes
        # between them or changes one of them.
        kept = int((bars.get_indexer(self._index) >= 0).sum())
        old = where < kept
        base = self._stop - kept  # the buffer row of bars[0]
        rewritten = not bars[:kept].equals(self._index[len(self._index) - kept:]) or not (
            _same(self._traded[:, base + where[old], column[old]], traded[:, old])
            and _same(self._adjusted[:, base + where[old], column[old]], adjusted[:, old]))
        if sources != self._sources:
            sources = _sources_of(self, bars, bars[np.unique(where)], sources)
        if rewritten:
            return self._rewritten(bars, where, column, traded, adjusted, sources, lookback)
        new = ~old
        grown = self._room(len(bars) - kept, lookback)
        stop = grown._stop + len(bars) - kept
        for held, given in ((grown._traded, traded), (grown._adjusted, adjusted)):
            held[:, grown._stop : stop] = np.nan
            held[:, grown._stop + where[new] - kept, column[new]] = given[:, new]
        grown._stop = grown._written[0] = stop
        grown._first, grown._index, grown._sources = stop - len(bars), bars, sources
        return grown

    def _rewritten(self, bars: pd.DatetimeIndex, where: np.ndarray, column: np.ndarray,
                   traded: np.ndarray, adjusted: np.ndarray, sources, lookback: int) -> BarWindow:  # fmt: skip
        """A new window on ``bars``: the bars held among them, with the cells at ``where``
        (a bar's position in ``bars``) and ``column`` written over."""
        held = bars.get_indexer(self._index)
        stays = np.flatnonzero(held >= 0)
        nothing = np.empty((5, 0, len(self.symbols)))
        grown = BarWindow(bars[:0], self.symbols, nothing, nothing, sources, bar_size=self.bar_size,
                          extended_hours=self.extended_hours, spare=len(bars) + lookback)  # fmt: skip
        for wide, old, given in ((grown._traded, self._traded, traded),
                                 (grown._adjusted, self._adjusted, adjusted)):  # fmt: skip
            wide[:, : len(bars)] = np.nan
            wide[:, held[stays]] = old[:, self._first + stays]
            wide[:, where, column] = given
        grown._index, grown._stop = bars, len(bars)
        grown._written[0] = len(bars)
        return grown

    def arrived(self, label: pd.Timestamp) -> np.ndarray:
        """Which symbols (in the window's order) have a bar at ``label``."""
        (at,) = self._index.get_indexer([label])
        if at < 0:
            return np.zeros(len(self.symbols), dtype=bool)
        return ~np.isnan(self._traded[3, self._first + at])

    def _room(self, rows: int, lookback: int) -> BarWindow:
        """A shallow copy of this window with room for ``rows`` more bars: the same buffer
        when it has the room and wrote last (its rows past the end were never handed out),
        else a new one."""
        grown = object.__new__(BarWindow)
        grown.__dict__.update(self.__dict__)
        if self._stop + rows > self._traded.shape[1] or self._written[0] != self._stop:
            n = len(self)
            cap = max(2 * lookback, n) + rows
            grown._traded = np.empty((5, cap, len(self.symbols)))
            grown._adjusted = np.empty_like(grown._traded)
            grown._traded[:, :n] = self._traded[:, self._first : self._stop]
            grown._adjusted[:, :n] = self._adjusted[:, self._first : self._stop]
            grown._first, grown._stop = 0, n
            grown._written = [n]
        return grown


def _spread(rows: np.ndarray, at: np.ndarray, column: np.ndarray, bars: int, symbols: int) -> np.ndarray:
    """Long rows (fields x rows) laid out wide: fields x bars x symbols, NaN where no row is."""
    wide = np.full((rows.shape[0], bars, symbols), np.nan)
    wide[:, at, column] = rows
    return wide


def _union(sets: list[frozenset]) -> tuple[str, ...]:
    """The sources of bars with these sets of sources, sorted."""
    return tuple(sorted(frozenset().union(*sets)))


def _last_of_each(where: np.ndarray, column: np.ndarray, rows: np.ndarray,
                  symbols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The rows at a bar kept (``where`` not -1), the last of each bar and symbol given twice."""
    key = np.where(where >= 0, where * symbols + column, -1)
    _, last = np.unique(key[::-1], return_index=True)
    last = np.sort(len(key) - 1 - last)
    last = last[where[last] >= 0]
    return where[last], column[last], rows[:, last]


def _same(held: np.ndarray, given: np.ndarray) -> bool:
    """True when every value given is the one held (NaN where NaN is held)."""
    return bool(((held == given) | (np.isnan(held) & np.isnan(given))).all())


def _sources_of(window: BarWindow, bars: pd.DatetimeIndex, written: pd.DatetimeIndex,
                sources: frozenset) -> list[frozenset]:  # fmt: skip
    """The sources of each of ``bars``: those of ``window``'s bar, with ``sources`` where
    rows were ``written``."""
    held = window._sources
    held = dict(zip(window.index, [held] * len(window.index) if isinstance(held, frozenset) else held,
                    strict=True))  # fmt: skip
    return [held.get(b, frozenset()) | (sources if b in written else frozenset()) for b in bars]
