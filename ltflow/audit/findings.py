"""What verification finds, and the pure comparison of one team's stored rows with its chain.

The comparison never trusts a single source: it recomputes each stored event's digest, checks the
anchored chain against its own digests, and checks its links against every anchor that
recorded the team's head. Each disagreement becomes a :class:`Finding` of one stable ``kind``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, field_validator

from ltflow.audit import chain
from ltflow.audit.ledger import Head, Linked

#: Every kind a finding can have, and what it means. Stable strings (JSON output, docs).
KINDS: dict[str, str] = {
    "changed": "the stored bytes of an event differ from what was anchored",
    "deleted": "an anchored event is no longer in the event store",
    "truncated": "the last anchored events of a team are gone",
    "inserted": "an event that was never anchored sits among anchored ones",
    "reordered": "a version holds the event that was anchored under another version",
    "swapped": "two versions hold each other's events",
    "duplicate": "two stored rows claim the same version",
    "chain_gap": "the anchored chain skips versions (events removed before anchoring)",
    "link_altered": "the anchored chain itself was edited in the audit store",
    "rewritten": "the events and their chain were rewritten together; an anchor disagrees",
    "anchor_altered": "an anchor does not match its own content or the anchor before it",
    "anchor_mismatch": "the anchor differs from the value recorded outside ltflow",
    "access_log_altered": "an access-log entry was changed, removed or the log cut short",
    "forged": "a stored row carries no valid MAC of ltflow's writer: no ltflow process stored it",
    "audit_store_lost": "the audit store was replaced, lost or is behind what was anchored",
    "export_invalid": "the export file is malformed or incomplete",
    "read_model_differs": "the team-detail read model differs from a fresh fold of the events",
    "replay_failed": "the team's Temporal workflow history does not replay deterministically",
    "unanchored": "(note) events stored after the last anchoring run; not yet covered",
    "read_model_behind": "(note) the read model has not caught up with the event store yet",
    "skipped": "(note) a cross-check could not run",
}

#: Kinds renamed in issue 13 (``docs/contract-as-built.md``), old -> new: a report written before
#: (an export's trailer, a stored ``--json`` output) reads back under the new kind.
RENAMED_KINDS: dict[str, str] = {"seal_gap": "chain_gap", "unsealed": "unanchored"}


class Finding(BaseModel):
    """One thing verification found. ``failure`` False marks a note, not a failed check."""

    model_config = ConfigDict(frozen=True)

    kind: str
    message: str
    team_id: str | None = None
    version: int | None = None
    other_version: int | None = None
    seq: int | None = None
    failure: bool = True

    @field_validator("kind")
    @classmethod
    def _current_kind(cls, kind: str) -> str:
        return RENAMED_KINDS.get(kind, kind)


@dataclass
class TeamCheck:
    """The verdict on one team: its stored events, its anchored head and what disagrees."""

    team_id: str
    events: int
    anchored: int
    head: bytes | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.failure for f in self.findings)


def check_team(
    team_id: str,
    stored: Sequence[tuple[int, str, bytes]],
    linked: Sequence[Linked],
    anchored: Sequence[Head] = (),
) -> TeamCheck:
    """Compare a team's stored rows ``(version, topic, state)`` (in version order) with its
    anchored chain ``linked`` and the heads the anchors recorded."""
    links = chain.chain(team_id, stored)
    linked_versions = [s[0] for s in linked]
    found = _chain_gaps(team_id, linked_versions)
    n = len(linked)
    if [row[0] for row in stored[:n]] == linked_versions and links[:n] == [s[2] for s in linked]:
        if len(stored) > n:
            found.append(unanchored_note(team_id, [row[0] for row in stored[n:]]))
    else:
        digests = [chain.event_digest(topic, state) for _, topic, state in stored]
        altered, edited = _check_links(team_id, stored, digests, linked)
        versions = [row[0] for row in stored]
        fixed = [
            anchored_digest if v in edited else d
            for v, d, anchored_digest in _with_anchored(versions, digests, linked)
        ]
        found += _compare(team_id, versions, fixed, linked_versions, [s[1] for s in linked])
        found += altered
    found += _check_anchored(team_id, linked, anchored)
    return TeamCheck(team_id, len(stored), n, links[-1] if links else None, found)


def _with_anchored(
    versions: list[int], digests: list[bytes], linked: Sequence[Linked]
) -> list[tuple[int, bytes, bytes]]:
    by_version = {s[0]: s[1] for s in linked}
    return [(v, d, by_version.get(v, d)) for v, d in zip(versions, digests, strict=True)]


def _chain_gaps(team_id: str, versions: list[int]) -> list[Finding]:
    if not versions or (versions[0] == 1 and versions[-1] == len(versions)):
        return []
    missing = sorted(set(range(1, versions[-1] + 1)) - set(versions))
    return [
        Finding(
            kind="chain_gap",
            team_id=team_id,
            version=missing[0] if missing else versions[0],
            message=f"The anchored chain lacks versions {_ranges(missing)}: they were removed "
            "before they were anchored, or the audit store was edited.",
        )
    ]


def _check_links(
    team_id: str,
    stored: Sequence[tuple[int, str, bytes]],
    digests: list[bytes],
    linked: Sequence[Linked],
) -> tuple[list[Finding], set[int]]:
    """Each anchored link must follow from the anchored link before it and the stored row at its
    version. Where the row still has its anchored digest (or still yields the anchored link), a
    disagreement can only be an edit of the audit store itself. Returns the findings and the
    versions whose anchored *digest* was edited (their rows are unchanged)."""
    rows = {row[0]: (row, d) for row, d in zip(stored, digests, strict=True)}
    altered: list[int] = []
    edited: set[int] = set()
    prev = chain.ZERO
    for version, digest, anchored_link, _ in linked:
        found = rows.get(version)
        follows = anchored_link
        if found is not None:
            (_, topic, state), d = found
            computed = chain.link(prev, team_id, version, topic, state)
            local = computed == anchored_link
            if local != (d == digest):
                altered.append(version)
                if local:
                    edited.add(version)
            if d == digest:
                follows = computed  # an edited link here must not implicate the next one
        prev = follows
    if not altered:
        return [], edited
    message = (
        f"The anchored chain at versions {_ranges(altered)} was edited in the audit store "
        "(the stored events there are as anchored)."
    )
    return [
        Finding(kind="link_altered", team_id=team_id, version=altered[0], message=message)
    ], edited


def _compare(
    team_id: str,
    versions: list[int],
    digests: list[bytes],
    linked_versions: list[int],
    linked_digests: list[bytes],
) -> list[Finding]:
    anchored = dict(zip(linked_versions, linked_digests, strict=True))
    head = linked_versions[-1] if linked_versions else 0
    where = {d: v for v, d in anchored.items()}
    stored: dict[int, bytes] = {}
    found: list[Finding] = []
    for v, d in zip(versions, digests, strict=True):
        if v in stored:
            found.append(_f("duplicate", team_id, v, f"Two stored rows claim version {v}."))
        stored[v] = d
    identity = {v: where.get(d) for v, d in stored.items()}
    present = {w for w in identity.values() if w is not None}
    pending: list[int] = []
    for v in sorted(stored):
        w = identity[v]
        if w == v:
            continue
        if w is not None:
            if identity.get(w) == v:
                if v < w:
                    found.append(_f("swapped", team_id, v, _SWAPPED.format(v=v, w=w), w))
            else:
                found.append(_f("reordered", team_id, v, _MOVED.format(v=v, w=w), w))
        elif v in anchored and v in present:
            found.append(_f("inserted", team_id, v, _INSERTED.format(v=v)))
        elif v in anchored:
            found.append(_f("changed", team_id, v, _CHANGED.format(v=v)))
        elif v > head:
            pending.append(v)
        else:
            found.append(_f("inserted", team_id, v, _INSERTED.format(v=v)))
    gone = [
        s for s in linked_versions if s not in present and not (s in stored and identity[s] is None)
    ]
    found += _gone(team_id, gone, head, max(stored, default=0))
    if pending:
        found.append(unanchored_note(team_id, pending))
    return found


def _gone(team_id: str, gone: list[int], head: int, last_stored: int) -> list[Finding]:
    """Anchored events no longer anywhere: a missing tail is one truncation, the rest deletions."""
    tail, missing = head, set(gone)
    while tail in missing and tail > last_stored:
        tail -= 1
    cut = [v for v in gone if v > tail]
    found = [
        _f("deleted", team_id, v, f"Anchored version {v} is gone from the store.")
        for v in gone
        if v <= tail
    ]
    if cut:
        message = f"The history was cut short: anchored versions {_ranges(cut)} are gone."
        found.append(_f("truncated", team_id, cut[0], message))
    return found


def _check_anchored(
    team_id: str, linked: Sequence[Linked], anchored: Sequence[Head]
) -> list[Finding]:
    links = {s[0]: s[2] for s in linked}
    bad = [h for h in anchored if links.get(h.version) != h.link]
    recorded = {h.seq for h in anchored}
    unrecorded = sorted({s[3] for s in linked} - recorded)
    found: list[Finding] = []
    if bad:
        first = bad[0]
        since = max((h.version for h in anchored if h.seq < first.seq), default=0) + 1
        more = f" (and {len(bad) - 1} later anchors)" if len(bad) > 1 else ""
        found.append(
            Finding(
                kind="rewritten",
                team_id=team_id,
                version=first.version,
                seq=first.seq,
                message=f"Anchor #{first.seq} recorded another chain head at version "
                f"{first.version}{more}: an event between versions {since} and {first.version} "
                "was rewritten together with its chain.",
            )
        )
    if unrecorded:
        found.append(
            Finding(
                kind="rewritten",
                team_id=team_id,
                seq=unrecorded[0],
                message=f"Anchors {', '.join(f'#{s}' for s in unrecorded)} anchored events of this "
                "team but record no head for it: the chain or the anchors were rewritten.",
            )
        )
    return found


def unanchored_note(team_id: str, versions: list[int]) -> Finding:
    return Finding(
        kind="unanchored",
        team_id=team_id,
        version=versions[0],
        failure=False,
        message=f"Versions {_ranges(versions)} are not anchored yet (anchoring catches up).",
    )


def _f(kind: str, team_id: str, version: int, message: str, other: int | None = None) -> Finding:
    return Finding(
        kind=kind, team_id=team_id, version=version, other_version=other, message=message
    )


_CHANGED = "Version {v} changed: its stored bytes differ from what was anchored."
_MOVED = "Version {v} holds the event anchored as version {w}: events were reordered."
_SWAPPED = "Versions {v} and {w} hold each other's events: they were swapped."
_INSERTED = "Version {v} holds an event that was never anchored: it was inserted."


def _ranges(numbers: Sequence[int]) -> str:
    """``1-3, 7``: a compact list of versions."""
    parts: list[str] = []
    ordered = sorted(numbers)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ", ".join(parts)
