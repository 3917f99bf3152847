"""Domain errors across the Temporal boundary, both ways, in one place.

Inside the worker (activities, update validators and handlers) a domain error becomes a
non-retryable ``ApplicationError`` whose ``type`` is the contract's code and whose first detail is
the error's details; on the client's side such a failure becomes the domain error again. Facts a
caller acts on (``finished``: the team's workflow has completed, so nothing more goes through it;
``workflow_status``: the run stopped, see ``team_unavailable``) travel in ``details``, never in
the message text.

Failure messages travel encrypted (:class:`LtflowFailureConverter`), except one fixed sentence:
the refusal of a payload the codec cannot open, which the client without the key must be able
to read.
"""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, ClassVar
from uuid import UUID

import structlog
from temporalio.api.failure.v1 import Failure
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes, PayloadConverter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ltflow.aggregates.errors import (
    LtflowError,
    StoreFailedError,
    TeamNotFoundError,
    TeamUnavailableError,
    WrongPhaseError,
    error_from_code,
)


class PayloadRefusedError(ApplicationError):
    """A payload ltflow's codec could not open reached the workflow (or a client): its sender
    does not hold the payload key. An update carrying it is rejected; a run started with it
    fails. ``reason`` is the codec's (``workflows/codec.py``); the message is fixed text."""

    REASONS: ClassVar[dict[str, str]] = {
        "not-encrypted": "this one is not encrypted",
        "unknown-key": "this one was encrypted with a key its receiver does not hold",
        "undecryptable": "this one does not decrypt with the key it names",
    }

    def __init__(self, reason: str) -> None:
        why = self.REASONS.get(reason, "this one cannot be opened")
        super().__init__(
            f"ltflow accepts only payloads encrypted with its payload key, and {why}: connect "
            "with LtflowPlugin and the deployment's key (or through ltflow's API); nothing was "
            "recorded.",
            type="unauthenticated",
            non_retryable=True,
        )


class LtflowFailureConverter(DefaultFailureConverterWithEncodedAttributes):
    """Failure messages and stack traces move into the (encrypted) encoded attributes, except
    a :class:`PayloadRefusedError`'s fixed sentence: it holds no data, and a client without the
    key would otherwise read only "Encoded failure"."""

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        super().to_failure(exception, payload_converter, failure)
        if isinstance(exception, PayloadRefusedError):
            failure.ClearField("encoded_attributes")
            failure.message = exception.message


log = structlog.get_logger("ltflow.workflows.failures")


def to_application_error(error: LtflowError) -> ApplicationError:
    """A domain error as Temporal carries it: ``type`` is the contract's code."""
    return ApplicationError(error.message, error.details, type=error.code, non_retryable=True)


#: Failures a retry gives again (a fault in the code, a value it cannot handle): retried, they
#: would hold the caller and the team's workflow for ever. A database that is down raises none of
#: these, and stays retried.
DETERMINISTIC = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


@contextmanager
def as_application_errors() -> Iterator[None]:
    """Raise a domain error from the block as its ``ApplicationError`` (worker side), and a
    deterministic failure as a non-retryable ``internal_error`` the caller gets at once."""
    failed: tuple[str, str] | None = None
    try:
        yield
    except LtflowError as error:
        raise to_application_error(error) from None
    except DETERMINISTIC as error:
        # What kind, and where; never the message or the traceback's values: they may carry a
        # participant's text (a validation error quotes its input).
        last = traceback.extract_tb(error.__traceback__)[-1]
        failed = (type(error).__name__, f"{last.filename}:{last.lineno} in {last.name}")
        # The exception stays the one being handled until the ``with`` ends: drop its message
        # too, so that nothing printing it (a failing log handler, say) prints the text.
        error.args = ()
    if failed is not None:
        log.error(
            "activity failed in a way no retry changes", error_class=failed[0], location=failed[1]
        )
        raise to_application_error(
            StoreFailedError(
                "ltflow could not store this event (a fault inside ltflow, logged); nothing was "
                "stored, and sending it again gives the same answer until the fault is fixed.",
                error_class=failed[0],
            )
        ) from None


#: Runs that stopped without finishing the case: ``ltflow team repair`` starts a new one.
STOPPED = frozenset(
    {
        WorkflowExecutionStatus.FAILED,
        WorkflowExecutionStatus.TERMINATED,
        WorkflowExecutionStatus.TIMED_OUT,
        WorkflowExecutionStatus.CANCELED,
    }
)


def from_failure(
    exc: BaseException, team_id: UUID, status: WorkflowExecutionStatus | None = None
) -> LtflowError | None:
    """The domain error a Temporal failure stands for (client side), or None if it is none.

    A workflow Temporal does not find running is told apart by ``status``, its latest run's
    (:func:`workflow_status`): none is no team, a completed run a finished team, a stopped run an
    unavailable one. A run that is running again (repaired meanwhile) is no domain error.
    """
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
        return _not_running(team_id, status)
    return None


def _not_running(team_id: UUID, status: WorkflowExecutionStatus | None) -> LtflowError | None:
    if status is None:
        return TeamNotFoundError(f"No Learning Team with id {team_id}.", team_id=str(team_id))
    if status is WorkflowExecutionStatus.COMPLETED:
        return WrongPhaseError(
            "The team is finished; nothing more can be recorded.",
            team_id=str(team_id),
            finished=True,
        )
    if status in STOPPED:
        return TeamUnavailableError(
            f"The team's workflow has stopped ({status.name.lower().replace('_', ' ')}) and "
            f"records nothing; its record is safe in the event store: an operator restarts it "
            f"from there with 'ltflow team repair {team_id}'.",
            team_id=str(team_id),
            workflow_status=status.name,
        )
    return None


async def workflow_status(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionStatus | None:
    """The status of the workflow's latest run, or None when Temporal knows no such workflow."""
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.status


@asynccontextmanager
async def as_domain_errors(team_id: UUID, handle: WorkflowHandle[Any, Any]) -> AsyncIterator[None]:
    """Raise a Temporal failure from the block as the domain error it stands for (client side);
    a workflow that is not running is described to say why (see :func:`from_failure`)."""
    try:
        yield
    except Exception as exc:
        status = None
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            status = await workflow_status(handle)
        error = from_failure(exc, team_id, status)
        if error is None:
            raise
        raise error from exc
