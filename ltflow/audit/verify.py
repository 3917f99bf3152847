"""Verification: the stored events against their chain, the chain against its anchors, the anchors
against each other (and against a value recorded outside ltflow), and the access log's chain.

:func:`verify_team` checks one case; :func:`verify_store` checks every team, every anchor and
the whole access log, reading the store a chunk of teams at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from ltflow.audit import access_log, chain, forgery, ledger, mark
from ltflow.audit.findings import Finding, TeamCheck, check_team, unanchored_note
from ltflow.audit.forgery import MacCheck
from ltflow.audit.ledger import Anchor
from ltflow.audit.scan import scan
from ltflow.audit.source import EventSource, RawRow
from ltflow.audit.store import AuditStore, Tx

#: A check renamed in issue 13 (``docs/contract-as-built.md``), old -> new.
_RENAMED_CHECKS = {"sealed chain": "anchored chain"}


class VerifyReport(BaseModel):
    """The outcome of a verification; ``ok`` is False when any finding is a failure.

    A report written before issue 13 (in an export's trailer, say) reads back under the new words
    (its count, its check, and its finding kinds: see ``findings.RENAMED_KINDS``); it is always
    written with the new ones.
    """

    model_config = ConfigDict(populate_by_name=True)

    ok: bool
    scope: str
    team_id: str | None = None
    teams: int = 0
    events: int = 0
    #: Events in the anchored chain.
    anchored: int = Field(0, validation_alias=AliasChoices("anchored", "sealed"))
    access_entries: int | None = None
    anchor: str | None = None
    head: str | None = None
    seconds: float = 0.0
    checks: list[str] = []
    findings: list[Finding] = []

    @field_validator("checks")
    @classmethod
    def _current_checks(cls, checks: list[str]) -> list[str]:
        return [_RENAMED_CHECKS.get(check, check) for check in checks]

    def add(self, findings: Iterable[Finding], check: str | None = None) -> None:
        """Fold more findings (e.g. a cross-check) into the report."""
        self.findings = [*self.findings, *findings]
        if check is not None:
            self.checks = [*self.checks, check]
        self.ok = not any(f.failure for f in self.findings)


@dataclass(frozen=True)
class AnchorRef:
    """An anchor as recorded outside ltflow: ``seq:hex``."""

    seq: int
    digest: str

    @classmethod
    def parse(cls, text: str) -> AnchorRef:
        seq, _, digest = text.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise ValueError(f"An anchor is written seq:digest (64 hex digits), not {text!r}.")
        return cls(int(seq), digest.lower())


def verify_team(
    source: EventSource,
    store: AuditStore,
    team_id: str,
    *,
    expected: AnchorRef | None = None,
    check_access_log: bool = True,
    macs: MacCheck | None = None,
) -> VerifyReport:
    """Verify one team's history (see the module docstring); ``macs``: every row must carry
    its writer's MAC (:mod:`ltflow.audit.forgery`)."""
    started = time.perf_counter()
    rows = source.rows([team_id])
    noted = mark.book_of(source).read()
    with store.read() as tx:
        linked = ledger.links(tx, [team_id]).get(team_id, [])
        anchored = ledger.heads_of_teams(tx, [team_id]).get(team_id, [])
        result = check_team(team_id, _stored(rows), linked, anchored)
        seqs = {h.seq for h in anchored} | {s[3] for s in linked}
        latest, anchor_findings = _check_anchors(tx, seqs, expected)
        entries, access = _access(tx, check_access_log)
        lost = mark.check(tx, noted)
    report = _report("team", [result], latest, started, team_id=team_id)
    if macs is not None:
        report.add(forgery.findings(macs.forged(rows), report.findings), "writer's MACs")
    report.add(lost, "audit store")
    report.add(anchor_findings, "anchors")
    if entries is not None:
        report.access_entries = entries
        report.add(access, "access log")
    return report


def verify_store(
    source: EventSource,
    store: AuditStore,
    *,
    expected: AnchorRef | None = None,
    chunk: int = 500,
    macs: MacCheck | None = None,
) -> VerifyReport:
    """Verify every team, every anchor and the whole access log: one front-to-back sweep
    (:mod:`ltflow.audit.scan`, in parallel ranges where it can), then a close look at each team
    the sweep marked."""
    started = time.perf_counter()
    noted = mark.book_of(source).read()
    with store.read() as tx:
        latest = ledger.latest_anchor(tx)
        lost = mark.check(tx, noted)
    anchor_findings: list[Finding] = []
    access: list[Finding] = []
    entries: int | None = None

    def heads() -> dict[tuple[int, str], tuple[int, bytes]]:
        """Every anchored head, and meanwhile the anchors and the access log (in a parallel
        sweep, while the forked processes sweep their ranges)."""
        nonlocal entries, access
        with store.read() as tx:
            anchors = ledger.anchors(tx, 1)
            head_rows = ledger.head_rows(tx)
            entries, access = _access(tx, True)
        anchor_findings.extend(_anchor_chain(anchors, _recompute_all(anchors, head_rows), 1))
        if expected is not None:
            anchor_findings.extend(_expected(anchors, expected))
        return ledger.heads_by_key(head_rows)

    swept = scan(source, store, heads, latest.position if latest else 0)
    marked = sorted(swept.suspicious)
    results: list[TeamCheck] = []
    for start in range(0, len(marked), chunk):
        part = marked[start : start + chunk]
        rows = _by_team(source.rows(part))
        with store.read() as tx:
            linked = ledger.links(tx, part)
            anchored = ledger.heads_of_teams(tx, part)
        results.extend(
            check_team(t, rows.get(t, []), linked.get(t, []), anchored.get(t, [])) for t in part
        )
    notes = [
        unanchored_note(team, versions)
        for team, versions in sorted(swept.unanchored.items())
        if team not in swept.suspicious
    ]
    report = _report("all", results, latest, started)
    report.teams, report.events, report.anchored = len(swept.teams), swept.events, swept.anchored
    report.add(notes)
    if macs is not None:  # a second pass: the sweep's hot loop stays one hash per event
        report.add(forgery.findings(macs.sweep(), report.findings), "writer's MACs")
    report.add(lost, "audit store")
    report.add(anchor_findings, "anchors")
    report.access_entries = entries
    report.add(access, "access log")
    return report


def _stored(rows: Sequence[RawRow]) -> list[tuple[int, str, bytes]]:
    return [(v, topic, state) for _, v, topic, state in rows]


def _by_team(rows: Sequence[RawRow]) -> dict[str, list[tuple[int, str, bytes]]]:
    grouped: dict[str, list[tuple[int, str, bytes]]] = {}
    for team, version, topic, state in rows:
        bucket = grouped.get(team)
        if bucket is None:
            bucket = grouped[team] = []
        bucket.append((version, topic, state))
    return grouped


def _report(
    scope: str,
    results: list[TeamCheck],
    latest: Anchor | None,
    started: float,
    team_id: str | None = None,
) -> VerifyReport:
    findings = [f for r in results for f in r.findings]
    head = results[0].head if scope == "team" and results else None
    return VerifyReport(
        ok=not any(f.failure for f in findings),
        scope=scope,
        team_id=team_id,
        teams=sum(1 for r in results if r.events or r.anchored),
        events=sum(r.events for r in results),
        anchored=sum(r.anchored for r in results),
        anchor=latest.ref if latest else None,
        head=head.hex() if head else None,
        seconds=time.perf_counter() - started,
        checks=["stored events", "anchored chain"],
        findings=findings,
    )


def _access(tx: Tx, wanted: bool) -> tuple[int | None, list[Finding]]:
    if not wanted:
        return None, []
    return access_log.check_access_log(tx, ledger.access_marks(tx))


def _check_anchors(
    tx: Tx, seqs: set[int], expected: AnchorRef | None
) -> tuple[Anchor | None, list[Finding]]:
    """Recompute the anchors in ``seqs``, and check that each anchor from the first of them to
    the latest follows the one before it."""
    latest = ledger.latest_anchor(tx)
    interest = set(seqs)
    if expected is not None:
        interest.add(expected.seq)
    first = min(interest, default=latest.seq if latest else 1)
    anchors = ledger.anchors(tx, first)
    heads = ledger.heads_of_anchors(tx, sorted(seqs))
    recomputed = {a.seq: a.recompute(heads.get(a.seq, [])) for a in anchors if a.seq in seqs}
    found = _anchor_chain(anchors, recomputed, first, seqs - recomputed.keys())
    if expected is not None:
        found += _expected(anchors, expected)
    return latest, found


def _recompute_all(
    anchors: Sequence[Anchor], rows: Sequence[tuple[int, str, int, bytes]]
) -> dict[int, bytes]:
    """Every anchor's digest from every head (rows by anchor, then team id)."""
    by_seq: dict[int, list[tuple[str, int, bytes]]] = {}
    for seq, team, version, link in rows:
        group = by_seq.get(seq)
        if group is None:
            group = by_seq[seq] = []
        group.append((team, version, link))
    return {a.seq: a.recompute_from(chain.head_leaves(by_seq.get(a.seq, ()))) for a in anchors}


def _anchor_chain(
    anchors: Sequence[Anchor],
    recomputed: dict[int, bytes],
    first: int,
    gone: Iterable[int] = (),
) -> list[Finding]:
    """The anchors from ``first`` on must follow one another without a gap, and each anchor in
    ``recomputed`` must have the digest recomputed from its heads; ``gone``: anchors that
    were asked about and are not there."""
    found: list[Finding] = []
    expected_seq, prev = first, None
    for anchor in anchors:
        if anchor.seq != expected_seq:
            found.append(
                _altered(anchor.seq, f"Anchors {_span(expected_seq, anchor.seq)} are gone.")
            )
        elif prev is not None and anchor.prev != prev:
            found.append(
                _altered(anchor.seq, f"Anchor #{anchor.seq} does not follow the one before.")
            )
        digest = recomputed.get(anchor.seq)
        if digest is not None and digest != anchor.digest:
            found.append(_altered(anchor.seq, f"Anchor #{anchor.seq} does not match its heads."))
        expected_seq, prev = anchor.seq + 1, anchor.digest
    for seq in sorted(gone):
        found.append(_altered(seq, f"Anchor #{seq} is gone."))
    return found


def _span(first: int, last_exclusive: int) -> str:
    last = last_exclusive - 1
    return f"#{first}" if first == last else f"#{first}-#{last}"


def _expected(anchors: Sequence[Anchor], expected: AnchorRef) -> list[Finding]:
    match = next((a for a in anchors if a.seq == expected.seq), None)
    if match is not None and match.digest.hex() == expected.digest:
        return []
    now = "is gone" if match is None else f"is {match.digest.hex()[:16]}..."
    return [
        Finding(
            kind="anchor_mismatch",
            seq=expected.seq,
            message=f"Anchor #{expected.seq} was recorded as {expected.digest[:16]}... but now "
            f"{now}: the audit store was rewritten after it was recorded.",
        )
    ]


def _altered(seq: int, message: str) -> Finding:
    return Finding(kind="anchor_altered", seq=seq, message=message)
