"""Accounts: sign-up, sign-in, tokens and the per-user request rate limits.

- `model`, `ports`: the account and session records and their repositories;
- `auth`: how passwords and tokens are made and checked; `service`: `Accounts`;
- `rate_limits`: the fixed one-minute windows each request counts against.
"""
