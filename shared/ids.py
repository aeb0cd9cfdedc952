"""Ids of the service's records: random UUIDs, as text."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())
