"""Stored strategies: owned by their creator, optionally public (the rules language is `shared.strategy`).

- `model`, `ports`: the strategy records and their repository; `service`: `Strategies`.
"""
