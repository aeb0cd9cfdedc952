"""Optimizations: a strategy's parameter grid backtested over one range, ranked.

- `model`, `ports`: the optimization record and what the use-cases need from storage;
- `sweep`: the grid of combinations, their evaluation and ranking (NumPy);
- `service`: `Optimizations`, the API's use-case; `workflow`: the optimization state machine's steps.
"""
