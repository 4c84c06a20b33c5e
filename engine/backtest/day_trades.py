"""Day trades in a backtest: round trips opened and closed in one session, per book.

A trader reads two figures from them before trading a config: how many day trades it
makes, and the most it makes in any 5 consecutive sessions -- the window of FINRA's
pattern-day-trader rule (4 or more marks an account under $25,000, see
:mod:`engine.risk.compliance`), and what the intraday margin rules will meet.

    >>> import numpy as np
    >>> day_trade_figures(book=np.array([0, 0, 0, 1]), entry_session=np.array([1, 3, 9, 2]),
    ...                   exit_session=np.array([1, 3, 9, 4]), closed=np.array([True] * 4),
    ...                   n_books=2)
    (array([3, 0]), array([2, 0]))
"""

from __future__ import annotations

import numpy as np

#: Sessions in the pattern-day-trader window: engine.risk.limits.PDT_WINDOW_SESSIONS (law,
#: not a setting; a test holds the two equal without the backtest importing the risk package).
PDT_WINDOW_SESSIONS = 5


def day_trade_figures(
    book: np.ndarray,
    entry_session: np.ndarray,
    exit_session: np.ndarray,
    closed: np.ndarray,
    n_books: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(day trades per book, the most of a book's day trades in any PDT_WINDOW_SESSIONS sessions).

    One entry per trade: its book, the session numbers (consecutive trading sessions, 0,
    1, ...) of its entry and exit, and whether it was closed. A day trade is a closed trade
    whose entry and exit fall in one session.
    """
    book = np.asarray(book, dtype=np.int64)
    day = np.asarray(closed, dtype=bool) & (
        np.asarray(entry_session) == np.asarray(exit_session)
    )
    book, session = book[day], np.asarray(exit_session, dtype=np.int64)[day]
    counts = np.bincount(book, minlength=n_books)
    most = np.zeros(n_books, dtype=np.int64)
    if len(book):
        # Sorted by (book, session), each day trade counts those of its book in the window
        # that ends on its session: itself and the ones before it at most 4 sessions back.
        stride = int(session.max()) + PDT_WINDOW_SESSIONS + 1
        key = np.sort(book * stride + session)
        first = np.searchsorted(key, key - (PDT_WINDOW_SESSIONS - 1), side="left")
        np.maximum.at(most, key // stride, np.arange(len(key)) - first + 1)
    return counts, most
