"""Reading a user's transactions: newest first, filtered by symbol, side and time, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.errors import FieldError, ValidationFailed
from shared.pagination import Page, PageRequest
from shared.transactions.model import SIDES, Transaction
from shared.transactions.ports import TransactionFilters, TransactionRepository


@dataclass
class TransactionHistory:
    repository: TransactionRepository

    def list(self, owner_id: str, filters: TransactionFilters, page: PageRequest) -> Page[Transaction]:
        """Only the owner's transactions; `start`/`end` bound transaction_time (both inclusive)."""
        errors = []
        if filters.side is not None and filters.side not in SIDES:
            errors.append(FieldError("side", f"must be one of {', '.join(SIDES)}"))
        if filters.start is not None and filters.end is not None and filters.end < filters.start:
            errors.append(FieldError("end_time", "must not be before start_time"))
        if errors:
            raise ValidationFailed("invalid filters", errors)
        symbol = filters.symbol.strip().upper().replace("/", "") if filters.symbol else None
        items, total = self.repository.page(owner_id, replace(filters, symbol=symbol), page.offset, page.limit)
        return Page(items, total, page)
