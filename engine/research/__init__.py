"""Research to production: the validation gate, the config registry, proposals, notebook runs.

- :mod:`engine.research.validation` -- a policy of thresholds turns evidence into a verdict.
- :mod:`engine.research.config_registry` -- configs in the store and their lifecycle
  (draft -> validated -> approved -> paused -> retired, or rejected), every move audited.
- :mod:`engine.research.propose` -- walk-forward + overfitting guards + look-ahead check on a
  grid, written down as a config with its evidence and judged by the policy.

Import the module you need; this package imports nothing itself, so that the control room
and the live loop can read the registry without loading vectorbt or papermill.
"""
