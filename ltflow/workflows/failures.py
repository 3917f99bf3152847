"""Domain errors across the Temporal boundary, both ways, in one place.

Inside the worker (activities, update validators and handlers) a domain error becomes a
non-retryable ``ApplicationError`` whose ``type`` is the contract's code and whose first detail is
the error's details; on the client's side such a failure becomes the domain error again. Facts a
caller acts on (``finished``: the team's workflow has completed, so nothing more goes through it)
travel in ``details``, never in the message text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ltflow.aggregates.errors import (
    LtflowError,
    TeamNotFoundError,
    WrongPhaseError,
    error_from_code,
)


def to_application_error(error: LtflowError) -> ApplicationError:
    """A domain error as Temporal carries it: ``type`` is the contract's code."""
    return ApplicationError(error.message, error.details, type=error.code, non_retryable=True)


@contextmanager
def as_application_errors() -> Iterator[None]:
    """Raise a domain error from the block as its ``ApplicationError`` (worker side)."""
    try:
        yield
    except LtflowError as error:
        raise to_application_error(error) from None


def from_failure(exc: BaseException, team_id: UUID) -> LtflowError | None:
    """The domain error a Temporal failure stands for (client side), or None if it is none."""
    if isinstance(exc, WorkflowUpdateFailedError):
        cause: BaseException | None = exc.cause
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = cause.__cause__
        if isinstance(cause, ApplicationError) and cause.type:
            details = cause.details[0] if cause.details else {}
            return error_from_code(
                cause.type, cause.message, details if isinstance(details, dict) else {}
            )
        return None
    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
        if "completed" in exc.message.lower():
            return WrongPhaseError(
                "The team is finished; nothing more can be recorded.",
                team_id=str(team_id),
                finished=True,
            )
        return TeamNotFoundError(f"No Learning Team with id {team_id}.", team_id=str(team_id))
    return None


@contextmanager
def as_domain_errors(team_id: UUID) -> Iterator[None]:
    """Raise a Temporal failure from the block as the domain error it stands for (client side)."""
    try:
        yield
    except Exception as exc:
        error = from_failure(exc, team_id)
        if error is None:
            raise
        raise error from exc
