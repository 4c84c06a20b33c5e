"""The control room: Streamlit pages over the store, where a trader watches and overrides.

Pages read through :mod:`app.facade` (one place that touches the store) and write only
trader commands and config-registry transitions; the live loop does the trading. Nothing
here decides a trade: the forms check what a person typed, the engine decides the rest.
"""
