"""A case's audit trail as one self-contained JSON Lines file, and its offline check.

The file (format ``ltflow-audit-export/1``, described line by line in ``docs/audit.md``):

1. a ``header``: format, team id, case_ref, when, and who exported it for whom;
2. one ``event`` line per stored event: the stored row (``topic``, ``state`` as base64), its
   ``digest`` and chain ``link``, and the decoded event for reading (``event``, or null when the
   bytes cannot be decoded, e.g. under a cipher);
3. one ``anchor`` line per anchor that recorded this team's head: its fields, the leaves it
   commits to, and which leaf is this team's;
4. a ``trailer``: event count, head, the latest anchor, the verification done at export time,
   the line count and a SHA-256 over every line before it.

:func:`ltflow.audit.offline.check_export` checks such a file with nothing but the file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from ltflow.audit import chain
from ltflow.audit.access_log import Accessor
from ltflow.audit.ledger import Anchor, Head
from ltflow.audit.verify import VerifyReport

EXPORT_FORMAT = "ltflow-audit-export/1"


@dataclass
class ExportInput:
    """Everything one export holds."""

    team_id: str
    case_ref: str | None
    exported_at: datetime
    exporter: Accessor
    rows: list[tuple[int, str, bytes]]
    readable: list[dict[str, Any] | None]
    anchors: list[tuple[Anchor, list[Head]]]
    latest: Anchor | None
    verification: VerifyReport


@dataclass(frozen=True)
class ExportSummary:
    """What was written: line and event counts, the chain head, the body's SHA-256."""

    lines: int
    events: int
    head: str | None
    sha256: str


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n"


def write_export(out: TextIO, data: ExportInput) -> ExportSummary:
    """Write the export to ``out``; returns its size, head and checksum."""
    versions = [v for v, _, _ in data.rows]
    digests = [chain.event_digest(topic, state) for _, topic, state in data.rows]
    links = chain.chain(data.team_id, data.rows)
    checksum = hashlib.sha256()
    count = 0
    for line in _body(data, digests, links):
        out.write(line)
        checksum.update(line.encode())
        count += 1
    head = {"version": versions[-1], "link": links[-1].hex()} if versions else None
    out.write(
        _dump(
            {
                "kind": "trailer",
                "events": len(data.rows),
                "head": head,
                "latest_anchor": data.latest.ref if data.latest else None,
                "verification": data.verification.model_dump(mode="json"),
                "lines": count + 1,
                "sha256": checksum.hexdigest(),
            }
        )
    )
    return ExportSummary(
        lines=count + 1,
        events=len(data.rows),
        head=links[-1].hex() if links else None,
        sha256=checksum.hexdigest(),
    )


def _body(data: ExportInput, digests: list[bytes], links: list[bytes]) -> Iterator[str]:
    yield _dump(
        {
            "kind": "header",
            "format": EXPORT_FORMAT,
            "team_id": data.team_id,
            "case_ref": data.case_ref,
            "exported_at": data.exported_at.isoformat(),
            "exporter": {
                "actor": data.exporter.actor,
                "on_behalf_of": data.exporter.on_behalf_of,
                "channel": data.exporter.channel,
            },
            "events": len(data.rows),
        }
    )
    for (version, topic, state), digest, link, readable in zip(
        data.rows, digests, links, data.readable, strict=True
    ):
        yield _dump(
            {
                "kind": "event",
                "version": version,
                "topic": topic,
                "state": base64.b64encode(state).decode(),
                "digest": digest.hex(),
                "link": link.hex(),
                "event": readable,
            }
        )
    for anchor, heads in data.anchors:
        yield _dump(_anchor_line(anchor, heads, data.team_id))


def _anchor_line(anchor: Anchor, heads: list[Head], team_id: str) -> dict[str, Any]:
    ordered = sorted(heads, key=lambda h: h.team_id)
    index = next((i for i, h in enumerate(ordered) if h.team_id == team_id), None)
    return {
        "kind": "anchor",
        "seq": anchor.seq,
        "position": anchor.position,
        "anchored_at": anchor.anchored_at,
        "events": anchor.events,
        "access_seq": anchor.access_seq,
        "access_digest": anchor.access_digest.hex(),
        "prev": anchor.prev.hex(),
        "digest": anchor.digest.hex(),
        "leaves": [h.leaf.hex() for h in ordered],
        "head": None if index is None else {"index": index, "version": ordered[index].version},
    }


@contextmanager
def atomic_output(path: Path) -> Iterator[TextIO]:
    """A text file at ``path`` that appears whole or not at all: written beside it under a
    temporary name and renamed over it only when the block ends without an error."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
