"""Pages of listings: page/per_page or limit/offset, one meta shape.

A request names a window either as `page` (1-based) + `per_page` or as `offset` + `limit`, never
both; the window size defaults to 20 and is at most 100. Every listing answers with
`meta{page, per_page, total_pages, total_count}` (+ `offset`), whichever style was asked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.errors import FieldError, ValidationFailed

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
ASC, DESC = "asc", "desc"

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    offset: int = 0
    limit: int = DEFAULT_PER_PAGE

    @classmethod
    def parse(
        cls, page: int | None = None, per_page: int | None = None, limit: int | None = None, offset: int | None = None
    ) -> PageRequest:
        """Bounds are enforced here as well as in the HTTP schema: the CLI and batches use it too."""
        errors = []
        if (page is not None or per_page is not None) and (limit is not None or offset is not None):
            errors.append(
                FieldError(
                    "offset" if offset is not None else "limit", "use either page/per_page or limit/offset, not both"
                )
            )
        for name, value, low in (("page", page, 1), ("offset", offset, 0)):
            if value is not None and value < low:
                errors.append(FieldError(name, f"must be at least {low}"))
        for name, value in (("per_page", per_page), ("limit", limit)):
            if value is not None and not 1 <= value <= MAX_PER_PAGE:
                errors.append(FieldError(name, f"must be between 1 and {MAX_PER_PAGE}"))
        if errors:
            raise ValidationFailed("invalid pagination", errors)
        size = per_page or limit or DEFAULT_PER_PAGE
        return cls(offset=offset if offset is not None else ((page or 1) - 1) * size, limit=size)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total_count: int
    request: PageRequest

    def meta(self) -> dict[str, int]:
        size = self.request.limit
        return {
            "page": self.request.offset // size + 1,
            "per_page": size,
            "total_pages": math.ceil(self.total_count / size),
            "total_count": self.total_count,
            "offset": self.request.offset,
        }


def paginate(items: Sequence[T], request: PageRequest) -> Page[T]:
    return Page(list(items[request.offset : request.offset + request.limit]), len(items), request)


def ordered(items: Sequence[T], key: Callable[[T], Any], direction: str) -> list[T]:
    """Sorted by `key` (missing values last in both directions), ties broken by id for a stable order."""
    present = [item for item in items if key(item) is not None]
    missing = [item for item in items if key(item) is None]
    present.sort(key=lambda item: (key(item), getattr(item, "id", "")), reverse=direction == DESC)
    missing.sort(key=lambda item: getattr(item, "id", ""))
    return present + missing
