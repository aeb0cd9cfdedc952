"""Domain errors. The API maps each to one HTTP status and the spec's error shape in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; `field` is a dotted path such as `config.stop_loss`
    or `entry_rules.conditions[0].params.period`, or `line 12` for a row of an imported file."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class DomainError(Exception):
    """Base of the errors a caller can act on (never a bug)."""

    code = "domain_error"

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors or [])


class ValidationFailed(DomainError):
    """Input that cannot be processed as given (HTTP 422)."""

    code = "validation_failed"


class NotFound(DomainError):
    """A resource that does not exist or that the caller may not see (HTTP 404)."""

    code = "not_found"


class Forbidden(DomainError):
    """A resource the caller may see but not change (HTTP 403)."""

    code = "forbidden"


class UpstreamRefused(DomainError):
    """An outside service (an exchange) refuses to answer, or kept failing through every retry (HTTP 502)."""

    code = "upstream_refused"


class Conflict(DomainError):
    """A request that contradicts the resource's current state (HTTP 409/422 by route)."""

    code = "conflict"
