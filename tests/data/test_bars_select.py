"""Selecting the symbols bars already hold gives bars of their own: writing into one leaves the other."""

from engine.data.sample import sample_bars


def test_a_write_into_selected_bars_never_reaches_the_bars_selected_from():
    bars = sample_bars(["AAPL", "GE"], "2012-01-03", "2012-03-30")
    before = bars.close.copy()
    for chosen in (bars.select(["AAPL", "GE"]), bars.select(["GE", "AAPL"])):
        chosen.close.iloc[0, 0] = -1.0
        chosen.high.loc[:, "GE"] = 0.0
        assert bars.close.equals(before)
        assert (bars.high["GE"] > 0).all()
    assert bars.select(["GE", "AAPL"]).symbols == ["GE", "AAPL"]
