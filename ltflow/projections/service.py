"""Projections as a long-running service: inside the embedded stack (a thread) or as a process.

On PostgreSQL the service sleeps until the event store's ``NOTIFY`` (sent by the library's
recorder in every insert transaction) and then catches up, so new events reach the views without
a polling delay; it still looks every ``fallback_interval`` seconds in case a notification was
lost. SQLite has no such signal: the service polls every ``poll_interval`` seconds, and code in
the same process can call :meth:`ProjectionService.wake` after it writes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import TYPE_CHECKING

import structlog
from eventsourcing.persistence import InterfaceError, OperationalError

from ltflow.projections.log import Waiter
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import ViewStore

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from ltflow.config import Settings
    from ltflow.eventstore.application import LearningTeams

log = structlog.get_logger("ltflow.projections")
#: Failures worth waiting out (a database restarting, a lock held too long).
TRANSIENT = (OperationalError, InterfaceError, sqlite3.OperationalError)
_SLICE = 0.2


class ProjectionService:
    """Runs a :class:`ProjectionRunner` until stopped."""

    def __init__(
        self,
        runner: ProjectionRunner,
        *,
        poll_interval: float = 1.0,
        fallback_interval: float = 10.0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.runner = runner
        self.poll_interval = poll_interval
        self.fallback_interval = fallback_interval
        self.on_progress = on_progress
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        app: LearningTeams,
        *,
        poll_interval: float = 1.0,
        fallback_interval: float = 10.0,
    ) -> Self:
        """A service for ``app``'s event store, with the views where the settings put them."""
        runner = ProjectionRunner(app, ViewStore.from_settings(settings))
        return cls(runner, poll_interval=poll_interval, fallback_interval=fallback_interval)

    @property
    def push(self) -> bool:
        """True when new events are pushed (PostgreSQL LISTEN/NOTIFY), False when polled."""
        return self.runner.log.can_push

    def run(self) -> None:
        """Catch up, then follow the log until :meth:`stop`; transient failures are retried."""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with self.runner.log.listen() as waiter:
                    self._catch_up()
                    backoff = 0.5
                    while not self._stop.is_set():
                        self._idle(waiter)
                        self._catch_up()
            except TRANSIENT as exc:
                log.warning("projections paused", error=str(exc), retry_in=backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def start(self) -> Self:
        """Run in a background thread (the embedded stack)."""
        self._thread = threading.Thread(target=self._run_in_thread, name="ltflow-projections")
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the loop to end after the current batch (never mid-transaction), and wait."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Look at the log now instead of at the next poll (call after writing events)."""
        self._wake.set()

    def wait_for(self, notification_id: int, timeout: float = 5.0) -> bool:
        """Block until the views include ``notification_id``; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while True:
                if self.error is not None:
                    raise self.error
                position = self.runner.position
                if position is not None and position >= notification_id:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(min(remaining, _SLICE))

    def _run_in_thread(self) -> None:
        try:
            self.run()
        except BaseException as exc:
            self.error = exc
            log.exception("projections stopped")
            with self._progress:
                self._progress.notify_all()

    def _catch_up(self) -> None:
        applied = self.runner.catch_up(stop=self._stop)
        with self._progress:
            self._progress.notify_all()
        if applied and self.on_progress is not None:
            self.on_progress(applied, self.runner.position or 0)

    def _idle(self, waiter: Waiter | None) -> None:
        if waiter is None:
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            return
        deadline = time.monotonic() + self.fallback_interval
        while not self._stop.is_set() and not self._wake.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or waiter(min(remaining, _SLICE)):
                break
        self._wake.clear()
