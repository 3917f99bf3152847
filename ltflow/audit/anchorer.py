"""Anchoring as a long-running service: a thread beside the projections (or its own process).

Every ``interval`` seconds (or at once after :meth:`AnchorService.wake`) it calls
:meth:`ltflow.audit.service.Audit.anchor`, which chains what was stored since the last run and
anchors it. Transient failures (a database restarting, a lock held too long) are waited out with
a growing pause; anchoring is idempotent, so a failed run is simply repeated. Each anchor is
logged (``audit anchored``, with ``anchor=seq:digest``): ship those log lines somewhere ltflow
cannot rewrite and you have the outside record that ``verify --anchor`` checks against.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING

import structlog
from eventsourcing.persistence import InterfaceError, OperationalError

from ltflow.audit.mark import AuditStoreLost

if TYPE_CHECKING:
    from typing import Self

    from ltflow.audit.service import Audit

log = structlog.get_logger("ltflow.audit")
TRANSIENT = (OperationalError, InterfaceError, sqlite3.OperationalError)


class AnchorService:
    """Runs :meth:`Audit.anchor` every ``interval`` seconds until stopped."""

    def __init__(self, audit: Audit, *, interval: float = 5.0) -> None:
        self.audit = audit
        self.interval = interval
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Anchor now, then again every ``interval`` seconds, until :meth:`stop`."""
        backoff = self.interval
        while not self._stop.is_set():
            try:
                self.audit.anchor()
                backoff = self.interval
            except TRANSIENT as exc:
                backoff = min(backoff * 2, 60.0)
                log.warning("audit anchoring paused", error=str(exc), retry_in=backoff)
            except AuditStoreLost as lost:
                # Loud on every attempt, and still running: a restored audit store resumes it.
                backoff = min(backoff * 2, 60.0)
                log.error("audit anchoring refused", error=lost.message, retry_in=backoff)
            self._wake.wait(backoff)
            self._wake.clear()

    def start(self) -> Self:
        """Run in a background thread (the embedded stack, the worker)."""
        self._thread = threading.Thread(target=self._run_in_thread, name="ltflow-audit-anchor")
        self._thread.daemon = True
        self._thread.start()
        return self

    def wake(self) -> None:
        """Anchor now instead of at the next interval (call after writing events)."""
        self._wake.set()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Finish the current run (never mid-transaction) and end."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run_in_thread(self) -> None:
        try:
            self.run()
        except BaseException as exc:
            self.error = exc
            log.exception("audit anchoring stopped")
