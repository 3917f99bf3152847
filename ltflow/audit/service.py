"""``Audit``: the auditor's reads of a case, each one recorded in the access log.

This is what the command line and the HTTP API call. Every method that reads a case takes an
:class:`~ltflow.audit.access_log.Accessor` (who, for whom, through which channel) and appends
the access-log entry after the answer is ready and before it is returned, or, for an export,
before the first byte is written. A read that cannot be logged raises instead of answering.
``verify`` and ``export`` anchor first, so they cover every event stored up to that moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, TextIO
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ltflow.aggregates.errors import LtflowError, TeamNotFoundError
from ltflow.audit import access_log, crosschecks, ledger
from ltflow.audit.access_log import AccessEntry, Accessor
from ltflow.audit.anchoring import AnchorResult, anchor
from ltflow.audit.export import ExportInput, ExportSummary, write_export
from ltflow.audit.findings import Finding
from ltflow.audit.forgery import MacCheck
from ltflow.audit.mark import AuditStoreLost
from ltflow.audit.offline import check_export
from ltflow.audit.point_in_time import By, PointInTime, as_of, team_events
from ltflow.audit.source import EventSource
from ltflow.audit.store import AuditStore
from ltflow.audit.verify import AnchorRef, VerifyReport, verify_store, verify_team
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams, StoredFact


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Audit:
    """The audit trail of one ltflow installation (see the module docstring)."""

    def __init__(
        self,
        app: LearningTeams,
        store: AuditStore,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = _utc_now,
        owns_app: bool = False,
    ) -> None:
        self.app = app
        self.store = store
        self.settings = settings
        self.clock = clock
        self.source = EventSource.for_recorder(app.recorder)
        #: The writer's MACs, where the application writes them (``LearningTeams.from_settings``).
        self.macs = None if app.mac_key is None else MacCheck(self.source, app.mac_key)
        self._owns_app = owns_app

    @classmethod
    def from_settings(cls, settings: Settings, app: LearningTeams | None = None) -> Audit:
        """The audit trail beside ``app`` (or beside a new application for ``settings``)."""
        owns = app is None
        app = app or LearningTeams.from_settings(settings)
        recorder: Any = app.recorder
        datastore = recorder.datastore if settings.event_store == "postgres" else None
        return cls(app, AuditStore.from_settings(settings, datastore), settings, owns_app=owns)

    def close(self) -> None:
        self.store.close()
        if self._owns_app:
            self.app.close()

    def anchor(self) -> AnchorResult:
        """Anchor every event stored so far (idempotent; see :mod:`ltflow.audit.anchoring`)."""
        return anchor(self.source, self.store, now=self.clock, macs=self.macs)

    # --- reads, each logged ------------------------------------------------------------------

    def history(self, team_id: UUID, accessor: Accessor) -> list[StoredFact]:
        """Every stored event of the case, in order."""
        with self._logged(accessor, "history", team_id) as detail:
            facts = self.app.history(team_id)
            detail["events"] = len(facts)
        return facts

    def state(
        self,
        team_id: UUID,
        accessor: Accessor,
        *,
        version: int | None = None,
        at: datetime | None = None,
        by: By = "recorded",
    ) -> PointInTime:
        """The case as it stood at ``version`` or at the moment ``at``."""
        asked = {"version": version, "at": at.isoformat() if at else None, "by": by}
        with self._logged(accessor, "state", team_id, **asked) as detail:
            answer = as_of(team_events(self.app, team_id), version=version, at=at, by=by)
            detail["as_of_version"] = answer.version
        return answer

    def verify(
        self,
        team_id: UUID | None,
        accessor: Accessor,
        *,
        expected: AnchorRef | None = None,
        read_model: bool = True,
        extra: Iterable[tuple[str, list[Finding]]] = (),
    ) -> VerifyReport:
        """Verify one case (``team_id``) or, with None, the whole store and its access log."""
        with self._logged(accessor, "verify", team_id) as detail:
            self._anchor_unless_lost()
            if team_id is None:
                report = verify_store(self.source, self.store, expected=expected, macs=self.macs)
            else:
                report = verify_team(
                    self.source, self.store, str(team_id), expected=expected, macs=self.macs
                )
                if report.events == 0 and report.anchored == 0:
                    raise _not_found(team_id)
                if read_model:
                    report.add(self._read_model(team_id), "read model")
            for check, findings in extra:
                report.add(findings, check)
            detail.update(ok=report.ok, findings=len(report.findings), anchor=report.anchor)
        return report

    async def verify_with_replay(
        self, team_id: UUID, accessor: Accessor, client: Any, **options: Any
    ) -> VerifyReport:
        """:meth:`verify`, plus the Temporal replay cross-check through ``client``."""
        replay = await crosschecks.check_replay(client, team_id, self.settings)
        return self.verify(team_id, accessor, extra=[("workflow replay", replay)], **options)

    def export(self, team_id: UUID, accessor: Accessor, out: TextIO) -> ExportSummary:
        """Write the case's self-contained export (JSON Lines) to ``out``."""
        with self._logged(accessor, "export", team_id) as detail:
            self._anchor_unless_lost()
            tid = str(team_id)
            report = verify_team(
                self.source, self.store, tid, check_access_log=False, macs=self.macs
            )
            if report.events == 0:
                raise _not_found(team_id)
            data = self._export_input(tid, accessor, report)
            detail.update(events=len(data.rows), head=report.head, ok=report.ok)
        return write_export(out, data)

    def access_log(
        self, accessor: Accessor, team_id: UUID | None = None, limit: int | None = None
    ) -> list[AccessEntry]:
        """The access log (reading it is itself logged)."""
        tid = None if team_id is None else str(team_id)
        with self._logged(accessor, "access_log", team_id, limit=limit) as detail:
            found = access_log.entries(self.store, tid, limit)
            detail["entries"] = len(found)
        return found

    def adopt(self, accessor: Accessor, before: int) -> int:
        """Accept the rows stored below position ``before`` that have no writer's MAC (stored
        before MACs existed): give each one. Explicit and logged; rows with a wrong MAC stay
        forged. Returns how many rows were adopted."""
        if self.macs is None:
            raise LtflowError("This event store writes no MACs: there is nothing to adopt.")
        with self._logged(accessor, "adopt", None, before=before) as detail:
            detail["adopted"] = count = self.macs.adopt(before)
        return count

    @staticmethod
    def verify_file(lines: Iterable[str]) -> VerifyReport:
        """Check an export offline (no store is read, so nothing is logged)."""
        return check_export(lines)

    # --- helpers ------------------------------------------------------------------------------

    def record_read(
        self, accessor: Accessor, action: str, team_id: UUID | None, detail: dict[str, Any]
    ) -> None:
        """Log a read of personal data made elsewhere (a team's view, a CLI read, a codec
        decode) before its answer is given: a read that cannot be logged fails."""
        tid = None if team_id is None else str(team_id)
        access_log.record_access(self.store, accessor, action, tid, self.clock(), detail)

    def readers_of(self, team_id: UUID, participant_id: str) -> list[AccessEntry]:
        """Every logged read that showed this participant's input (``detail.participants``)
        or read the whole case (history, state, export), oldest first: "who viewed my input"."""
        whole_case = {"history", "state", "export"}
        return [
            entry
            for entry in access_log.entries(self.store, team_id=str(team_id))
            if participant_id in entry.detail.get("participants", ()) or entry.action in whole_case
        ]

    def _anchor_unless_lost(self) -> None:
        """Anchor first; where the audit store was lost or replaced anchoring refuses, and the
        verification that follows says so (``audit_store_lost``) instead of failing to answer."""
        with suppress(AuditStoreLost):
            self.anchor()

    @contextmanager
    def _logged(
        self, accessor: Accessor, action: str, team_id: UUID | None, **asked: Any
    ) -> Iterator[dict[str, Any]]:
        detail: dict[str, Any] = {k: v for k, v in asked.items() if v is not None}
        tid = None if team_id is None else str(team_id)
        try:
            yield detail
        except LtflowError as error:
            detail["outcome"] = error.code
            access_log.record_access(self.store, accessor, action, tid, self.clock(), detail)
            raise
        detail["outcome"] = "ok"
        access_log.record_access(self.store, accessor, action, tid, self.clock(), detail)

    def _read_model(self, team_id: UUID) -> list[Finding]:
        try:
            # As the views fold them: personal fields encrypted, as stored.
            events = team_events(self.app, team_id, encrypted=True)
        except Exception as exc:  # a tampered row may not decode; the chain already says why
            note = f"The read-model cross-check did not run: events do not decode ({exc})."
            return [Finding(kind="skipped", team_id=str(team_id), message=note, failure=False)]
        return crosschecks.check_read_model(self.settings, team_id, events)

    def _export_input(self, tid: str, accessor: Accessor, report: VerifyReport) -> ExportInput:
        rows = [(v, topic, state) for _, v, topic, state in self.source.rows([tid])]
        readable = [self._readable(tid, row) for row in rows]
        with self.store.read() as tx:
            heads = ledger.heads_of_teams(tx, [tid]).get(tid, [])
            seqs = sorted({h.seq for h in heads})
            anchors = [a for a in ledger.anchors(tx, seqs[0]) if a.seq in seqs] if seqs else []
            all_heads = ledger.heads_of_anchors(tx, seqs)
            latest = ledger.latest_anchor(tx)
        first = next((r for r in readable if r is not None), None)
        return ExportInput(
            team_id=tid,
            case_ref=(first or {}).get("payload", {}).get("case_ref"),
            exported_at=self.clock(),
            exporter=accessor,
            rows=rows,
            readable=readable,
            anchors=[(a, all_heads.get(a.seq, [])) for a in anchors],
            latest=latest,
            verification=report,
        )

    def _readable(self, tid: str, row: tuple[int, str, bytes]) -> dict[str, Any] | None:
        version, topic, state = row
        stored = StoredEvent(
            originator_id=UUID(tid), originator_version=version, topic=topic, state=state
        )
        try:
            event: Any = self.app.mapper.to_domain_event(stored)
        except Exception:  # tampered or encrypted bytes: the export still carries the bytes
            return None
        return {
            "type": event.TYPE,
            "event_id": event.event_id,
            "actor": event.actor,
            "occurred_at": event.occurred_at.isoformat(),
            "recorded_at": event.timestamp.isoformat(),
            "payload": event.payload,
        }


def _not_found(team_id: UUID) -> TeamNotFoundError:
    return TeamNotFoundError(f"No Learning Team with id {team_id}.", team_id=str(team_id))
