"""Readable text for the audit command line: tables an auditor can read on a terminal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ltflow.audit.access_log import AccessEntry
from ltflow.audit.findings import Finding
from ltflow.audit.point_in_time import PointInTime
from ltflow.audit.verify import VerifyReport
from ltflow.eventstore.application import StoredFact


def _t(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="seconds")


def _compact(payload: dict[str, Any]) -> str:
    """``key=value, ...``: text as it is, anything else as JSON."""
    return ", ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
        for k, v in payload.items()
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as wide as their widest cell, the last one left free to run on."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers[:-1])]
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.insert(1, "  ".join("-" * w for w in [*widths, len(headers[-1])]))
    return "\n".join(lines)


def history(facts: Sequence[StoredFact]) -> str:
    rows = [
        [str(f.version), _t(f.occurred_at), _t(f.recorded_at), f.actor, f.type, _compact(f.payload)]
        for f in facts
    ]
    head = f"team {facts[0].team_id}: {len(facts)} stored events\n\n" if facts else ""
    headers = ["version", "occurred_at", "recorded_at", "actor", "type", "payload"]
    return head + table(headers, rows)


def state(answer: PointInTime) -> str:
    d = answer.detail
    moment = f" at {_t(answer.at)} ({answer.by} time)" if answer.at else ""
    lines = [
        f"{d.case_ref}: {d.title}",
        f"as it stood{moment}: version {answer.version} of {answer.latest_version} "
        f"(recorded {_t(answer.recorded_at)})",
        f"phase {int(d.phase)} ({d.phase_name}), {d.status.value}; trigger {d.trigger}"
        + (f", theme {d.theme}" if d.theme else ""),
        f"goal: {d.goal}",
        f"scope: {d.scope}",
        f"facilitator: {d.facilitator}",
    ]
    sections: list[tuple[str, list[str]]] = [
        ("participants", [_participant(p) for p in d.participants]),
        ("sessions", [_session(s) for s in d.sessions]),
        ("perspectives", [f"{p.participant_id}: {p.perspective}" for p in d.perspectives]),
        ("reflection notes", [f"{n.participant_id}: {n.note}" for n in d.reflection_notes]),
        ("red threads", [r.summary for r in d.red_threads]),
        ("learning points", [f"[{p.kind}] {p.text}" for p in d.learning_points]),
        (
            "safety nets",
            [f"[{n.kind}, {n.status}] {n.description} (owner {n.owner})" for n in d.safety_nets],
        ),
        ("success criteria", [_criterion(c) for c in d.criteria]),
        ("stories", [f"to {s.audience} via {s.channel}: {s.summary}" for s in d.stories]),
    ]
    for title, items in sections:
        if items:
            lines.append(f"\n{title}:")
            lines.extend(f"  - {item}" for item in items)
    if d.follow_up is not None:
        f = d.follow_up
        ended = f"ended {_t(f.ended_at)} ({f.outcome})" if f.ended_at else "running"
        lines.append(
            f"\nfollow-up: {_t(f.started_at)} to {_t(f.ends_at)}, "
            f"{f.reviews_due} reviews due, {ended}"
        )
    return "\n".join(lines)


def _participant(p: Any) -> str:
    name = f" ({p.display_name})" if p.display_name else ""
    return f"{p.participant_id}{name}, {p.role}{'' if p.active else ', withdrawn'}"


def _session(s: Any) -> str:
    return (
        f"session {s.session}: scheduled {_t(s.scheduled_at)}, started {_t(s.started_at)}, "
        f"completed {_t(s.completed_at)}, {len(s.attendees)} attendees"
    )


def _criterion(c: Any) -> str:
    review = c.latest_review
    seen = f"; latest review: {'met' if review.met else 'not met'}" if review else ""
    return f"{c.description} (target {c.target}){seen}"


def verification(report: VerifyReport) -> str:
    what = {"team": f"team {report.team_id}", "all": "the whole store", "file": "the export"}
    verdict = "OK" if report.ok else "FAILED"
    anchored = "" if report.scope == "file" else f", {report.anchored} anchored"
    lines = [
        f"{verdict}: {what.get(report.scope, report.scope)}: {report.events} events in "
        f"{report.teams} team(s){anchored}; checked {', '.join(report.checks)} "
        f"in {report.seconds * 1000:.1f} ms",
    ]
    if report.anchor:
        lines.append(f"latest anchor: {report.anchor}")
    if report.access_entries is not None:
        lines.append(f"access log: {report.access_entries} entries")
    if report.findings:
        lines.append("")
        lines.append(findings(report.findings))
    return "\n".join(lines)


def findings(found: Sequence[Finding]) -> str:
    rows = [
        [
            f.kind if f.failure else f"({f.kind})",
            (f.team_id or "-")[:8],
            "-" if f.version is None else str(f.version),
            f.message,
        ]
        for f in found
    ]
    return table(["kind", "team", "version", "finding"], rows)


def access_entries(entries: Sequence[AccessEntry]) -> str:
    rows = [
        [
            str(e.seq),
            _t(e.at),
            e.actor,
            e.on_behalf_of or "-",
            e.channel,
            e.action,
            e.team_id or "(all)",
            str(e.detail.get("outcome", "-")),
        ]
        for e in entries
    ]
    headers = ["seq", "at", "actor", "on behalf of", "channel", "action", "team", "outcome"]
    return table(headers, rows)
