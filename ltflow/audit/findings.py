"""What verification finds, and the pure comparison of one team's stored rows with its seal.

The comparison never trusts a single source: it recomputes each stored event's digest, checks the
sealed chain against its own digests, and checks the sealed links against every anchor that
recorded the team's head. Each disagreement becomes a :class:`Finding` of one stable ``kind``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from ltflow.audit import chain
from ltflow.audit.ledger import Head, Sealed

#: Every kind a finding can have, and what it means. Stable strings (JSON output, docs).
KINDS: dict[str, str] = {
    "changed": "the stored bytes of an event differ from what was sealed",
    "deleted": "a sealed event is no longer in the event store",
    "truncated": "the last sealed events of a team are gone",
    "inserted": "an event that was never sealed sits among sealed ones",
    "reordered": "a version holds the event that was sealed under another version",
    "swapped": "two versions hold each other's events",
    "duplicate": "two stored rows claim the same version",
    "seal_gap": "the sealed chain skips versions (events removed before sealing)",
    "link_altered": "the sealed chain itself was edited in the audit store",
    "rewritten": "the events and their chain were rewritten together; an anchor disagrees",
    "anchor_altered": "an anchor does not match its own content or the anchor before it",
    "anchor_mismatch": "the anchor differs from the value recorded outside ltflow",
    "access_log_altered": "an access-log entry was changed, removed or the log cut short",
    "export_invalid": "the export file is malformed or incomplete",
    "read_model_differs": "the team-detail read model differs from a fresh fold of the events",
    "replay_failed": "the team's Temporal workflow history does not replay deterministically",
    "unsealed": "(note) events stored after the last sealing run; not yet covered",
    "read_model_behind": "(note) the read model has not caught up with the event store yet",
    "skipped": "(note) a cross-check could not run",
}


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


@dataclass
class TeamCheck:
    """The verdict on one team: its stored events, its sealed head and what disagrees."""

    team_id: str
    events: int
    sealed: int
    head: bytes | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.failure for f in self.findings)


def check_team(
    team_id: str,
    stored: Sequence[tuple[int, str, bytes]],
    sealed: Sequence[Sealed],
    anchored: Sequence[Head] = (),
) -> TeamCheck:
    """Compare a team's stored rows ``(version, topic, state)`` (in version order) with its seal."""
    links = chain.chain(team_id, stored)
    s_versions = [s[0] for s in sealed]
    found = _seal_gaps(team_id, s_versions)
    n = len(sealed)
    if [row[0] for row in stored[:n]] == s_versions and links[:n] == [s[2] for s in sealed]:
        if len(stored) > n:
            found.append(unsealed_note(team_id, [row[0] for row in stored[n:]]))
    else:
        digests = [chain.event_digest(topic, state) for _, topic, state in stored]
        altered, edited = _check_links(team_id, stored, digests, sealed)
        versions = [row[0] for row in stored]
        fixed = [
            sealed_digest if v in edited else d
            for v, d, sealed_digest in _with_sealed(versions, digests, sealed)
        ]
        found += _compare(team_id, versions, fixed, s_versions, [s[1] for s in sealed])
        found += altered
    found += _check_anchored(team_id, sealed, anchored)
    return TeamCheck(team_id, len(stored), n, links[-1] if links else None, found)


def _with_sealed(
    versions: list[int], digests: list[bytes], sealed: Sequence[Sealed]
) -> list[tuple[int, bytes, bytes]]:
    by_version = {s[0]: s[1] for s in sealed}
    return [(v, d, by_version.get(v, d)) for v, d in zip(versions, digests, strict=True)]


def _seal_gaps(team_id: str, versions: list[int]) -> list[Finding]:
    if not versions or (versions[0] == 1 and versions[-1] == len(versions)):
        return []
    missing = sorted(set(range(1, versions[-1] + 1)) - set(versions))
    return [
        Finding(
            kind="seal_gap",
            team_id=team_id,
            version=missing[0] if missing else versions[0],
            message=f"The sealed chain lacks versions {_ranges(missing)}: they were removed "
            "before they were sealed, or the audit store was edited.",
        )
    ]


def _check_links(
    team_id: str,
    stored: Sequence[tuple[int, str, bytes]],
    digests: list[bytes],
    sealed: Sequence[Sealed],
) -> tuple[list[Finding], set[int]]:
    """Each sealed link must follow from the sealed link before it and the stored row at its
    version. Where the row still has its sealed digest (or still yields the sealed link), a
    disagreement can only be an edit of the audit store itself. Returns the findings and the
    versions whose sealed *digest* was edited (their rows are unchanged)."""
    rows = {row[0]: (row, d) for row, d in zip(stored, digests, strict=True)}
    altered: list[int] = []
    edited: set[int] = set()
    prev = chain.ZERO
    for version, digest, sealed_link, _ in sealed:
        found = rows.get(version)
        follows = sealed_link
        if found is not None:
            (_, topic, state), d = found
            computed = chain.link(prev, team_id, version, topic, state)
            local = computed == sealed_link
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
        f"The sealed chain at versions {_ranges(altered)} was edited in the audit store "
        "(the stored events there are as sealed)."
    )
    return [
        Finding(kind="link_altered", team_id=team_id, version=altered[0], message=message)
    ], edited


def _compare(
    team_id: str,
    versions: list[int],
    digests: list[bytes],
    s_versions: list[int],
    s_digests: list[bytes],
) -> list[Finding]:
    sealed = dict(zip(s_versions, s_digests, strict=True))
    head = s_versions[-1] if s_versions else 0
    where = {d: v for v, d in sealed.items()}
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
        elif v in sealed and v in present:
            found.append(_f("inserted", team_id, v, _INSERTED.format(v=v)))
        elif v in sealed:
            found.append(_f("changed", team_id, v, _CHANGED.format(v=v)))
        elif v > head:
            pending.append(v)
        else:
            found.append(_f("inserted", team_id, v, _INSERTED.format(v=v)))
    gone = [s for s in s_versions if s not in present and not (s in stored and identity[s] is None)]
    found += _gone(team_id, gone, head, max(stored, default=0))
    if pending:
        found.append(unsealed_note(team_id, pending))
    return found


def _gone(team_id: str, gone: list[int], head: int, last_stored: int) -> list[Finding]:
    """Sealed events no longer anywhere: a missing tail is one truncation, the rest deletions."""
    tail, missing = head, set(gone)
    while tail in missing and tail > last_stored:
        tail -= 1
    cut = [v for v in gone if v > tail]
    found = [
        _f("deleted", team_id, v, f"Sealed version {v} is gone from the store.")
        for v in gone
        if v <= tail
    ]
    if cut:
        message = f"The history was cut short: sealed versions {_ranges(cut)} are gone."
        found.append(_f("truncated", team_id, cut[0], message))
    return found


def _check_anchored(
    team_id: str, sealed: Sequence[Sealed], anchored: Sequence[Head]
) -> list[Finding]:
    links = {s[0]: s[2] for s in sealed}
    bad = [h for h in anchored if links.get(h.version) != h.link]
    recorded = {h.seq for h in anchored}
    unrecorded = sorted({s[3] for s in sealed} - recorded)
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
                message=f"Anchors {', '.join(f'#{s}' for s in unrecorded)} sealed events of this "
                "team but record no head for it: the chain or the anchors were rewritten.",
            )
        )
    return found


def unsealed_note(team_id: str, versions: list[int]) -> Finding:
    return Finding(
        kind="unsealed",
        team_id=team_id,
        version=versions[0],
        failure=False,
        message=f"Versions {_ranges(versions)} are not sealed yet (sealing catches up).",
    )


def _f(kind: str, team_id: str, version: int, message: str, other: int | None = None) -> Finding:
    return Finding(
        kind=kind, team_id=team_id, version=version, other_version=other, message=message
    )


_CHANGED = "Version {v} changed: its stored bytes differ from what was sealed."
_MOVED = "Version {v} holds the event sealed as version {w}: events were reordered."
_SWAPPED = "Versions {v} and {w} hold each other's events: they were swapped."
_INSERTED = "Version {v} holds an event that was never sealed: it was inserted."


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
