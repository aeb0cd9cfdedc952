"""Limits on every JSON document the service reads from a client: its size and its nesting.

Python's `json` parses nesting recursively, so a body of a hundred thousand `[` overflows the
stack (RecursionError, a 500) and a huge document holds a Lambda's memory before any validation
runs. `check` refuses both before parsing: one regex pass that skips string contents, so a
9 MB base64 file inside a string costs one scan, not a Python loop.
"""

from __future__ import annotations

import re

from shared.errors import FieldError, ValidationFailed

# The deepest document the API describes is a strategy: 8 nested rule groups of 2 levels each
# (an object and its `conditions` list), a condition and its value/params objects: ~24.
MAX_DEPTH = 64
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_OPENERS = frozenset(b"[{")


class TooLarge(ValidationFailed):
    """The document is over its size limit (HTTP 413)."""

    code = "payload_too_large"


def nesting_depth(document: bytes, limit: int = MAX_DEPTH) -> int:
    """How deep arrays and objects nest in `document` (stops counting once past `limit`)."""
    depth = deepest = 0
    for token in _TOKENS.finditer(document):
        first = token.group()[0]
        if first == 0x22:  # '"': a string, brackets inside do not count
            continue
        depth += 1 if first in _OPENERS else -1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


def check(document: bytes, max_bytes: int, field: str = "body", max_depth: int = MAX_DEPTH) -> None:
    """ValidationFailed (TooLarge for the size) naming `field` when `document` is over a limit."""
    if len(document) > max_bytes:
        raise TooLarge(
            "the document is too large", [FieldError(field, f"has {len(document)} bytes; at most {max_bytes}")]
        )
    if nesting_depth(document, max_depth) > max_depth:
        raise ValidationFailed(
            "the document nests too deep",
            [FieldError(field, f"nests arrays and objects more than {max_depth} levels deep")],
        )
