"""``ltflow audit verify --file``: check an export with nothing but the file (no database).

The check, step by step (``docs/audit.md`` says the same for anyone reimplementing it):

1. Every line is a JSON object; the first is the ``header`` of format ``ltflow-audit-export/1``,
   the last is the ``trailer``.
2. Event lines come in version order 1, 2, 3, ... For each, ``digest`` must equal
   ``digest("event", topic, state)`` and ``link`` must equal ``digest("link", previous line's
   link (32 zero bytes first), team_id, version, topic, state)``, with ``state`` the
   base64-decoded bytes. Where the
   state is plain JSON, its ``payload``, ``actor``, ``event_id`` and times must be those the
   readable ``event`` shows.
3. For every anchor line, this team's leaf ``digest("head", team_id, version, link at that
   version)`` must be at ``head.index`` in ``leaves``, and the anchor's ``digest`` must equal
   ``digest("anchor", prev, seq, position, anchored_at, events, access_seq, access_digest,
   digest("heads", *leaves))``.
4. The trailer's ``events``, ``head``, ``lines`` and ``sha256`` (over every line before it, as
   bytes) must match the file.

A file that passes is internally consistent. That it is *the* history ltflow anchored is shown by
comparing its anchor digests with values recorded outside ltflow (see ``docs/audit.md``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Iterable
from typing import Any

from ltflow.audit import chain
from ltflow.audit.export import EXPORT_FORMAT
from ltflow.audit.findings import Finding
from ltflow.audit.verify import VerifyReport

_READABLE_TIMES = (("occurred_at", "occurred_at"), ("timestamp", "recorded_at"))
#: How :mod:`ltflow.privacy.fields` marks a personal field encrypted under a participant's key.
ENCRYPTED_PREFIX = "ltflow-pii:"


class _Invalid(ValueError):
    """The file cannot be read as an export at all."""


def check_export(lines: Iterable[str]) -> VerifyReport:
    """Check an export file's lines (see the module docstring)."""
    started = time.perf_counter()
    report = VerifyReport(ok=True, scope="file", checks=["export file"])
    try:
        records, checksum = _parse(lines)
        header, trailer = _frame(records)
        team_id = str(header["team_id"])
        events = [r for r in records if r.get("kind") == "event"]
        found, links = _check_events(team_id, events)
        for record in records:
            if record.get("kind") == "anchor":
                found += _check_anchor(team_id, record, links)
        found += _check_trailer(trailer, events, links, len(records), checksum)
    except _Invalid as exc:
        report.add([Finding(kind="export_invalid", message=str(exc))])
        return report
    except (KeyError, TypeError, ValueError) as exc:
        message = f"The file is not a well-formed export ({type(exc).__name__}: {exc})."
        report.add([Finding(kind="export_invalid", message=message)])
        return report
    report.team_id = team_id
    report.teams, report.events = 1, len(events)
    report.anchor = trailer.get("latest_anchor")
    report.head = links[max(links)].hex() if links else None
    report.seconds = time.perf_counter() - started
    report.add(found)
    return report


def _parse(lines: Iterable[str]) -> tuple[list[dict[str, Any]], list[str]]:
    records: list[dict[str, Any]] = []
    checksums: list[str] = []
    digest = hashlib.sha256()
    for number, line in enumerate(lines, start=1):
        checksums.append(digest.hexdigest())
        digest.update(line.encode() if line.endswith("\n") else (line + "\n").encode())
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _Invalid(f"Line {number} is not JSON: {exc.msg}.") from None
        if not isinstance(record, dict) or "kind" not in record:
            raise _Invalid(f"Line {number} is not an export record.")
        records.append(record)
    return records, checksums


def _frame(records: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    if not records or records[0].get("kind") != "header":
        raise _Invalid("The file does not start with an export header.")
    header = records[0]
    if header.get("format") != EXPORT_FORMAT:
        raise _Invalid(f"Unknown export format {header.get('format')!r}.")
    if records[-1].get("kind") != "trailer":
        raise _Invalid("The file has no trailer: it was cut short.")
    return header, records[-1]


def _check_events(
    team_id: str, events: list[dict[str, Any]]
) -> tuple[list[Finding], dict[int, bytes]]:
    """Each line against its own bytes and the line before it; returns the findings and the
    chain recomputed from the bytes alone (for the anchors and the trailer)."""
    found: list[Finding] = []
    links: dict[int, bytes] = {}
    written, recomputed, expected = chain.ZERO, chain.ZERO, 1
    for record in events:
        version, topic = int(record["version"]), str(record["topic"])
        if version != expected:
            kind = "deleted" if version > expected else "reordered"
            found.append(_at(kind, team_id, version, f"Version {version} follows {expected - 1}."))
        state = _b64(record["state"], version)
        digest_ok = chain.event_digest(topic, state).hex() == record.get("digest")
        link_ok = chain.link(written, team_id, version, topic, state).hex() == record.get("link")
        if not digest_ok and not link_ok:
            found.append(_at("changed", team_id, version, f"Version {version}'s bytes changed."))
        elif not (digest_ok and link_ok):
            message = f"The digest or link written for version {version} is wrong."
            found.append(_at("link_altered", team_id, version, message))
        if not _readable_matches(state, record.get("event")):
            message = f"The readable part of version {version} is not what its bytes say."
            found.append(_at("changed", team_id, version, message))
        recomputed = chain.link(recomputed, team_id, version, topic, state)
        written = _hex(record.get("link"))
        links[version], expected = recomputed, version + 1
    return found, links


def _hex(text: Any) -> bytes:
    try:
        return bytes.fromhex(str(text))
    except ValueError:
        return b""


def _readable_matches(state: bytes, readable: Any) -> bool:
    """Where the stored state is plain JSON, the readable part must say the same (personal
    fields encrypted per participant, :mod:`ltflow.privacy.fields`, can only be read with their
    key, so there any readable value is accepted: the bytes are what the chain covers)."""
    try:
        stored = json.loads(state)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return True  # encrypted at rest or compressed: only the bytes count
    if not isinstance(stored, dict):
        return True
    if not isinstance(readable, dict):
        return readable is None
    for key in ("payload", "actor", "event_id"):
        if not _same(stored.get(key), readable.get(key)):
            return False
    for stored_key, readable_key in _READABLE_TIMES:
        value = stored.get(stored_key)
        text = value.get("_data_") if isinstance(value, dict) else value
        if text != readable.get(readable_key):
            return False
    return True


def _same(stored: Any, readable: Any) -> bool:
    if isinstance(stored, str) and stored.startswith(ENCRYPTED_PREFIX):
        return True
    if isinstance(stored, dict):
        return (
            isinstance(readable, dict)
            and stored.keys() == readable.keys()
            and all(_same(v, readable[k]) for k, v in stored.items())
        )
    if isinstance(stored, list):
        return (
            isinstance(readable, list)
            and len(stored) == len(readable)
            and all(_same(a, b) for a, b in zip(stored, readable, strict=True))
        )
    return bool(stored == readable)


def _check_anchor(team_id: str, record: dict[str, Any], links: dict[int, bytes]) -> list[Finding]:
    seq = int(record["seq"])
    leaves = [bytes.fromhex(leaf) for leaf in record.get("leaves", [])]
    recomputed = chain.anchor_digest(
        prev=bytes.fromhex(record["prev"]),
        seq=seq,
        position=int(record["position"]),
        anchored_at=str(record["anchored_at"]),
        events=int(record["events"]),
        access_seq=int(record["access_seq"]),
        access_digest=bytes.fromhex(record["access_digest"]),
        root=chain.heads_root(leaves),
    )
    found: list[Finding] = []
    if recomputed.hex() != record.get("digest"):
        found.append(Finding(kind="anchor_altered", seq=seq, message=f"Anchor #{seq} is wrong."))
    head = record.get("head") or {}
    version, index = head.get("version"), head.get("index")
    mine: bytes | None = None
    if isinstance(version, int) and version in links:
        mine = chain.head_leaf(team_id, version, links[version])
    if (
        mine is None
        or not isinstance(index, int)
        or not 0 <= index < len(leaves)
        or leaves[index] != mine
    ):
        message = f"Anchor #{seq} does not record this chain's head at version {version}."
        found.append(
            Finding(kind="rewritten", team_id=team_id, version=version, seq=seq, message=message)
        )
    return found


def _check_trailer(
    trailer: dict[str, Any],
    events: list[dict[str, Any]],
    links: dict[int, bytes],
    lines: int,
    checksums: list[str],
) -> list[Finding]:
    problems = []
    if trailer.get("events") != len(events):
        problems.append(
            f"the trailer counts {trailer.get('events')} events, the file has {len(events)}"
        )
    head = trailer.get("head") or {}
    last = max(links, default=None)
    if last is not None and (head.get("version") != last or head.get("link") != links[last].hex()):
        problems.append("the trailer's head is not the chain's head")
    if trailer.get("lines") != lines:
        problems.append(f"the trailer counts {trailer.get('lines')} lines, the file has {lines}")
    if trailer.get("sha256") != checksums[-1]:
        problems.append("the checksum over the lines before the trailer does not match")
    return [Finding(kind="export_invalid", message=f"The file was altered: {p}.") for p in problems]


def _b64(text: Any, version: int) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise _Invalid(f"The state of version {version} is not base64.") from None


def _at(kind: str, team_id: str, version: int, message: str) -> Finding:
    return Finding(kind=kind, team_id=team_id, version=version, message=message)
