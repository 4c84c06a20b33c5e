"""Price jumps told apart by cause: a recorded split, a move the source adjusted, a real jump."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data.quality._rows import Rows, codes, empty

#: A move in unadjusted closes from one bar to the next beyond these ratios is a jump
#: worth a look (a 2:1 split is 0.5, 3:2 is 0.667, a 1:2 reverse split 2.0).
JUMP_DOWN, JUMP_UP = 0.70, 1.45


def price_jumps(r: Rows, ok: pd.Series, splits: pd.DataFrame | None) -> pd.DataFrame:
    """Bar-to-bar moves in unadjusted closes beyond JUMP_DOWN/JUMP_UP, told apart by cause.

    A split the source records that day, with adj_close accounting for it, is no finding.
    Otherwise: a recorded split adj_close does not adjust for (research would see a
    crash), a jump adj_close accounts for (a split or distribution the source adjusted),
    or a jump adj_close moves with: a real move, called a jump, not a split.
    """
    if not ok.any():
        return empty()
    rows = r.rows[ok]
    order = np.lexsort((r.order[ok.to_numpy()], codes(rows["symbol"])))
    rows = rows.iloc[order]
    prev = rows.groupby("symbol", sort=False, observed=True)["close"].shift()
    ratio = rows["close"] / prev
    jump = (ratio < JUMP_DOWN) | (ratio > JUMP_UP)
    if not jump.any():
        return empty()
    hit = rows[jump]
    ratio = ratio[jump]
    if "adj_close" in rows:
        adj = (rows["adj_close"] / rows.groupby("symbol", sort=False, observed=True)["adj_close"].shift())[jump]
        adjusted = (np.abs(np.log(adj)) < np.abs(np.log(ratio)) / 2).to_numpy()
    else:
        adjusted = np.zeros(len(hit), dtype=bool)
    recorded = pd.Series(np.nan, index=hit.index)
    if splits is not None and not splits.empty:
        lookup = splits.assign(date=pd.to_datetime(splits["date"])).set_index(["symbol", "date"])["ratio"]
        keys = pd.MultiIndex.from_arrays([hit["symbol"], r.date[hit.index]])
        recorded[:] = lookup.reindex(keys).to_numpy()
    is_split = recorded.notna().to_numpy()
    reasons = []
    for move, adj_ok, split, split_ratio in zip(ratio, adjusted, is_split, recorded, strict=True):
        text = f"close moved x{move:.3f} from the bar before; "
        if split:
            text += f"a recorded {split_ratio:g}-for-1 split that adj_close does not adjust for"
        elif adj_ok:
            text += "adj_close accounts for it (a split or distribution the source adjusted for)"
        else:
            text += "adj_close moves with it and no split is recorded: a real jump"
        reasons.append(text)
    keep = ~(is_split & adjusted)
    if not keep.any():
        return empty()
    mask = pd.Series(False, index=r.rows.index)
    mask[hit.index[keep]] = True
    by_label = dict(zip(hit.index, reasons, strict=True))
    return r.finding(mask, "price_jump", "warning", lambda h: [by_label[i] for i in h.index])
