"""The live loop: each bar, apply commands, compute signals, gate, submit, reconcile."""
