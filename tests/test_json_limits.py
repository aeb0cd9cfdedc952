"""Size and nesting limits on client JSON (shared.json_limits), checked before any parser runs."""

from __future__ import annotations

import json

import pytest

from shared.errors import ValidationFailed
from shared.json_limits import MAX_DEPTH, TooLarge, check, nesting_depth
from shared.realtime.protocol import MAX_MESSAGE_BYTES, parse_message


@pytest.mark.parametrize(
    "document, depth",
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["[[[[", "]]{{"]', 1),  # brackets inside strings do not count
        (b'["\\"[[[", {"k\\\\": [2]}]', 3),  # nor after an escaped quote; an escaped backslash ends nothing
    ],
)
def test_nesting_is_counted_outside_strings(document, depth):
    assert nesting_depth(document) == depth
    assert nesting_depth(document) == _reference_depth(json.loads(document))


def _reference_depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_reference_depth(v) for v in value), default=0)
    return 0


def test_a_document_past_the_limits_is_refused_naming_the_field():
    check(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, 10**6)
    with pytest.raises(ValidationFailed) as deep:
        check(b"[" * 100_000, 10**6, field="message")
    assert deep.value.errors[0].field == "message" and "levels deep" in deep.value.errors[0].message
    with pytest.raises(TooLarge) as large:
        check(b"x" * 11, 10)
    assert large.value.errors[0].message == "has 11 bytes; at most 10"


def test_websocket_messages_are_held_to_the_same_limits():
    with pytest.raises(ValidationFailed) as deep:
        parse_message("[" * 50_000)
    assert deep.value.errors[0].field == "message"
    with pytest.raises(TooLarge):
        parse_message(json.dumps({"action": "ping", "pad": "x" * MAX_MESSAGE_BYTES}))
