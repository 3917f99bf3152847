"""Domain errors: one small hierarchy with stable machine-readable codes (contract section 3)."""

from __future__ import annotations

from typing import Any, ClassVar


class LtflowError(Exception):
    """Base of every error a caller of ltflow can see.

    ``code`` is stable and machine-readable; ``message`` is one sentence a person understands;
    ``details`` carries the facts behind it (ids, times) for programs.
    """

    code: ClassVar[str] = "ltflow_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """The contract's error body: ``{"code", "message", "details"}``."""
        return {"code": self.code, "message": self.message, "details": self.details}

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.details))


def _rebuild(cls: type[LtflowError], message: str, details: dict[str, Any]) -> LtflowError:
    return cls(message, **details)


class InvalidEventError(LtflowError):
    """Malformed JSON, an unknown type, or a missing or invalid field."""

    code = "invalid_event"


class WrongPhaseError(LtflowError):
    """The event is not allowed in the team's current phase."""

    code = "wrong_phase"


class RuleViolatedError(LtflowError):
    """A rule of the method is broken: team size, too early, a missing prerequisite."""

    code = "rule_violated"


class TeamNotFoundError(LtflowError):
    """No team is known under this id."""

    code = "team_not_found"


class TeamUnavailableError(LtflowError):
    """The team's workflow stopped without finishing the case (failed, terminated, timed out or
    cancelled): nothing goes through until an operator repairs it from the event store."""

    code = "team_unavailable"


class RepairRefusedError(LtflowError):
    """A repair was asked of a team whose workflow is running, or completed normally."""

    code = "repair_refused"


class StoreFailedError(LtflowError):
    """ltflow could not store the event for a reason a retry cannot change (a fault in ltflow
    itself, logged where it happened); nothing was stored."""

    code = "internal_error"


class IdempotencyConflictError(LtflowError):
    """The same ``event_id`` or ``case_ref`` arrived again with different content."""

    code = "idempotency_conflict"


class ForbiddenError(LtflowError):
    """The caller is who they say, but may not do this: a scope, an organisation role or a role
    in the team is missing. The message says which would be needed."""

    code = "forbidden"


class VersionConflictError(LtflowError):
    """Someone else wrote to the team between our read and our write (optimistic concurrency)."""

    code = "version_conflict"


ERRORS_BY_CODE: dict[str, type[LtflowError]] = {
    cls.code: cls
    for cls in (
        InvalidEventError,
        WrongPhaseError,
        RuleViolatedError,
        TeamNotFoundError,
        TeamUnavailableError,
        RepairRefusedError,
        StoreFailedError,
        IdempotencyConflictError,
        VersionConflictError,
        ForbiddenError,
    )
}


def error_from_code(code: str, message: str, details: dict[str, Any] | None = None) -> LtflowError:
    """Rebuild a domain error on the far side of a boundary (Temporal, HTTP) from its code."""
    cls = ERRORS_BY_CODE.get(code, LtflowError)
    return cls(message, **(details or {}))
