"""The hash chain, its anchors and the access log's chain: pure functions, no I/O.

Everything is SHA-256 over one canonical byte encoding, written down in ``docs/audit.md`` so an
auditor can recompute it with any tool. A *field* is encoded as:

* text or bytes: a 4-byte big-endian length, then the bytes (text as UTF-8);
* an integer: 8 bytes, big-endian two's complement;
* an absent value: the four bytes ``FF FF FF FF``.

Every hash starts with a field naming what it is (``"event"``, ``"link"``, ...), so a value of one
kind can never pass for another. The chain covers the stored row exactly as the event store holds
it (``originator_id``, ``originator_version``, ``topic`` and the ``state`` bytes), so it verifies
the same with a cipher or compressor configured: it never decodes anything.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from hashlib import sha256

#: The link before a team's first event, and the ``prev`` of the first anchor and access entry.
ZERO = bytes(32)
FORMAT = "ltflow-audit/1"

_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_ABSENT = b"\xff\xff\xff\xff"
_LEN32 = _U32.pack(32)
_TAG_EVENT = _U32.pack(5) + b"event"
_TAG_LINK = _U32.pack(4) + b"link"
_TAG_HEAD = _U32.pack(4) + b"head"
#: The fixed start of every link's input (its kind, and the length of ``prev``).
LINK_HEAD = _TAG_LINK + _LEN32
pack_i64 = _I64.pack
pack_u32 = _U32.pack

Field = str | bytes | int | None


def field(value: Field) -> bytes:
    """One field in the canonical encoding (see the module docstring)."""
    if value is None:
        return _ABSENT
    if isinstance(value, bool):
        raise TypeError("booleans have no canonical encoding; use 0 or 1")
    if isinstance(value, int):
        return _I64.pack(value)
    data = value.encode() if isinstance(value, str) else value
    return _U32.pack(len(data)) + data


def digest(kind: str, *values: Field) -> bytes:
    """SHA-256 over the kind and the values, each as a canonical field."""
    return sha256(field(kind) + b"".join(map(field, values))).digest()


def event_digest(topic: str, state: bytes) -> bytes:
    """``digest("event", topic, state)``: what one stored event holds, wherever it sits.

    Kept beside each link only to *explain* a mismatch (which event moved where); the evidence
    is the chain of links.
    """
    h = sha256(_TAG_EVENT + topic_field(topic) + _U32.pack(len(state)))
    h.update(state)
    return h.digest()


def link(prev: bytes, team_id: str, version: int, topic: str, state: bytes) -> bytes:
    """``digest("link", prev, team_id, version, topic, state)``: one step of a team's chain."""
    return link_with(prev, field(team_id), version, topic, state)


def link_with(prev: bytes, team: bytes, version: int, topic: str, state: bytes) -> bytes:
    """:func:`link` with the team id already encoded as a field (the hot path)."""
    t = TOPIC_FIELDS.get(topic) or topic_field(topic)
    h = sha256(LINK_HEAD + prev + team + _I64.pack(version) + t + _U32.pack(len(state)))
    h.update(state)  # the state is the bulk: hashed in place, never copied
    return h.digest()


def chain(team_id: str, rows: Sequence[tuple[int, str, bytes]]) -> list[bytes]:
    """The links over a team's stored rows ``(version, topic, state)``, in the given order."""
    team = field(team_id)
    prev = ZERO
    out: list[bytes] = []
    for version, topic, state in rows:
        prev = link_with(prev, team, version, topic, state)
        out.append(prev)
    return out


#: By the topic's text or its UTF-8 bytes (the sweep reads them as bytes): the same field.
TOPIC_FIELDS: dict[str | bytes, bytes] = {}


def topic_field(topic: str | bytes) -> bytes:
    """``field(topic)``, remembered: a store has a few dozen topics and millions of rows."""
    encoded = TOPIC_FIELDS.get(topic)
    if encoded is None:
        encoded = field(topic)
        if len(TOPIC_FIELDS) < 10_000:
            TOPIC_FIELDS[topic] = encoded
    return encoded


def head_leaf(team_id: str, version: int, link_: bytes) -> bytes:
    """``digest("head", team_id, version, link)``: one team's head as an anchor commits to it."""
    team = team_id.encode()
    data = _TAG_HEAD + _U32.pack(len(team)) + team + _I64.pack(version) + _LEN32 + link_
    return sha256(data).digest()


def head_leaves(heads: Iterable[tuple[str, int, bytes]]) -> list[bytes]:
    """:func:`head_leaf` of many ``(team_id, version, link)`` heads (the whole-store check)."""
    tag, u32, i64, len32 = _TAG_HEAD, _U32.pack, _I64.pack, _LEN32
    out: list[bytes] = []
    for team_id, version, link_ in heads:
        team = team_id.encode()
        out.append(sha256(tag + u32(len(team)) + team + i64(version) + len32 + link_).digest())
    return out


def heads_root(leaves: Iterable[bytes]) -> bytes:
    """``digest("heads", leaf_1, ..., leaf_n)``, leaves in team-id order."""
    return digest("heads", *leaves)


def anchor_digest(
    *,
    prev: bytes,
    seq: int,
    position: int,
    anchored_at: str,
    events: int,
    access_seq: int,
    access_digest: bytes,
    root: bytes,
) -> bytes:
    """One anchor: the heads that advanced, the access log's head, and the previous anchor."""
    return digest(
        "anchor", prev, seq, position, anchored_at, events, access_seq, access_digest, root
    )


def access_digest(
    *,
    prev: bytes,
    seq: int,
    at: str,
    actor: str,
    on_behalf_of: str | None,
    channel: str,
    action: str,
    team_id: str | None,
    detail: str,
) -> bytes:
    """One access-log entry, chained to the one before it."""
    return digest("access", prev, seq, at, actor, on_behalf_of, channel, action, team_id, detail)
