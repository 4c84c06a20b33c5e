"""The trading states as traders know them: what each lets through, and the words for it.

One definition serves every face: the gate's rules (:mod:`engine.risk.gate_rules`), the order
router's last check before sending (:mod:`engine.live.router`), the trader's commands
(:mod:`engine.live.overrides`), the ``wb`` help and the control room's confirmations and
status strip all read it here, so what the screen promises is what the gate enforces.

- **ACTIVE**: every order goes through the risk limits.
- **REDUCING**: no new entries; exits and protective stops still go (reduce-only). The
  kill switch puts the book here.
- **HALTED**: no orders at all, the strategies' exits and stops included; only a trader's
  own order that reduces a position goes. ``wb halt`` puts the book here, and so does the
  weekly hard loss; a trader resumes.

Flatten is an action, not a state: it cancels every open order and closes every position
at market once (a trader's reducing orders, so it works in every state).

The book is long-only, so an order that reduces exposure is a sell of shares held.

>>> from engine.risk.gate_inputs import OrderIntent
>>> exit_ = OrderIntent("AAPL", "sell", 100, config_id="c1")
>>> lets_through(TradingState.REDUCING, exit_), lets_through(TradingState.HALTED, exit_)
(True, False)
"""

from __future__ import annotations

from engine.risk.gate_inputs import OrderIntent, TradingState

#: What each state lets through, in the words every face uses.
MEANING: dict[TradingState, str] = {
    TradingState.ACTIVE: "every order goes through the risk limits",
    TradingState.REDUCING: "no new entries; exits and protective stops still go",
    TradingState.HALTED: (
        "no orders at all, the strategies' exits and stops included; only a trader's own "
        "order that reduces a position goes"
    ),
}

#: The state the kill switch puts the book in.
KILL_SWITCH_STATE = TradingState.REDUCING

#: What each of the trader's controls does, in the words every face uses.
KILL_SWITCH_ON = (
    "The kill switch stops every new entry and cancels open entry orders; exits and "
    "protective stops still go (trading REDUCING)."
)
KILL_SWITCH_OFF = (
    "Releasing the kill switch lets entries go again under the risk limits (trading ACTIVE); "
    "a halt stays until a trader resumes."
)
HALT = (
    "A halt stops every order, the strategies' exits and stops included, and cancels open "
    "entry orders; stops already resting at the broker stay; only a trader's own order that "
    "reduces a position goes (trading HALTED until a trader resumes)."
)
RESUME = "Resuming returns trading to ACTIVE (to REDUCING while the kill switch is on)."
FLATTEN = "Flatten cancels every open order and closes every position at market, in any state."

_STRICTNESS = (TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED)


def lets_through(state: TradingState, intent: OrderIntent) -> bool:
    """True when ``state`` lets ``intent`` go (see the module docstring)."""
    if state is TradingState.HALTED:
        return intent.is_manual and not intent.adds_exposure
    if state is TradingState.REDUCING:
        return not intent.adds_exposure
    return True


def stricter(a: TradingState, b: TradingState) -> TradingState:
    """The stricter of two states (HALTED over REDUCING over ACTIVE)."""
    return max(a, b, key=_STRICTNESS.index)


def refusal(state: TradingState) -> str:
    """Why ``state`` refuses an order, as the end of a gate reason."""
    return f"trading is {state.value}: {MEANING[state]}"
