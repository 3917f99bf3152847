"""The hash formulas as ``docs/audit.md`` writes them, reimplemented here with nothing but the
standard library, must agree with ltflow's fast code, and must check a real export offline."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
from uuid import UUID

from ltflow.audit import Audit, chain
from ltflow.audit.findings import check_team
from ltflow.audit.ledger import Head
from tests.audit.conftest import AUDITOR, sqlite_only


def F(value: str | bytes | int | None) -> bytes:
    if value is None:
        return b"\xff\xff\xff\xff"
    if isinstance(value, int):
        return struct.pack(">q", value)
    data = value.encode() if isinstance(value, str) else value
    return struct.pack(">I", len(data)) + data


def H(kind: str, *values: str | bytes | int | None) -> bytes:
    return hashlib.sha256(F(kind) + b"".join(F(v) for v in values)).digest()


def test_the_fast_code_computes_the_documented_formulas() -> None:
    team, topic, state, prev = "5a7e…-team", "ltflow.x:Y", b"\x00state\xff" * 30, bytes(range(32))
    assert chain.event_digest(topic, state) == H("event", topic, state)
    assert chain.link(prev, team, 7, topic, state) == H("link", prev, team, 7, topic, state)
    rows = [(1, topic, state), (2, topic, state[::-1])]
    first = H("link", bytes(32), team, 1, topic, state)
    assert chain.chain(team, rows) == [first, H("link", first, team, 2, topic, state[::-1])]
    assert chain.head_leaf(team, 2, first) == H("head", team, 2, first)
    assert chain.heads_root([first, prev]) == H("heads", first, prev)
    assert chain.anchor_digest(
        prev=prev, seq=3, position=99, anchored_at="2026-01-01T00:00:00+00:00", events=5,
        access_seq=0, access_digest=bytes(32), root=first,
    ) == H("anchor", prev, 3, 99, "2026-01-01T00:00:00+00:00", 5, 0, bytes(32), first)  # fmt: skip
    assert chain.access_digest(
        prev=prev, seq=1, at="t", actor="a", on_behalf_of=None, channel="cli", action="history",
        team_id=None, detail="{}",
    ) == H("access", prev, 1, "t", "a", None, "cli", "history", None, "{}")  # fmt: skip


def test_one_canonical_encoding_pins_the_format() -> None:
    # If this digest changes, every anchored chain in the field stops verifying: never change it.
    assert chain.link(bytes(32), "team", 1, "topic", b"state").hex() == (
        H("link", bytes(32), "team", 1, "topic", b"state").hex()
    )
    assert F("ab") == b"\x00\x00\x00\x02ab"
    assert F(1) == b"\x00" * 7 + b"\x01"


@sqlite_only
def test_the_documented_offline_check_passes_on_a_real_export(audit: Audit, case: UUID) -> None:
    out = io.StringIO()
    audit.export(case, AUDITOR, out)
    lines = out.getvalue().splitlines(keepends=True)
    records = [json.loads(line) for line in lines]
    header, trailer = records[0], records[-1]
    team = header["team_id"]
    written = recomputed = bytes(32)
    links = {}
    for expected_version, r in enumerate((r for r in records if r["kind"] == "event"), start=1):
        state = base64.b64decode(r["state"])
        assert r["version"] == expected_version
        assert H("event", r["topic"], state).hex() == r["digest"]
        assert H("link", written, team, r["version"], r["topic"], state).hex() == r["link"]
        recomputed = H("link", recomputed, team, r["version"], r["topic"], state)
        written = bytes.fromhex(r["link"])
        links[r["version"]] = recomputed
    for r in (r for r in records if r["kind"] == "anchor"):
        leaves = [bytes.fromhex(leaf) for leaf in r["leaves"]]
        mine = H("head", team, r["head"]["version"], links[r["head"]["version"]])
        assert leaves[r["head"]["index"]] == mine
        root = H("heads", *leaves)
        fields = (r["seq"], r["position"], r["anchored_at"], r["events"], r["access_seq"])
        access = bytes.fromhex(r["access_digest"])
        digest = H("anchor", bytes.fromhex(r["prev"]), *fields, access, root)
        assert digest.hex() == r["digest"]
    assert trailer["head"] == {"version": 44, "link": links[44].hex()}
    assert trailer["sha256"] == hashlib.sha256("".join(lines[:-1]).encode()).hexdigest()
    assert trailer["lines"] == len(lines)


def test_an_anchored_team_checks_clean_in_memory() -> None:
    rows = [(v, "t", bytes([v]) * 50) for v in range(1, 6)]
    links = chain.chain("team", rows)
    linked = [
        (v, chain.event_digest(t, s), lk, 1) for (v, t, s), lk in zip(rows, links, strict=True)
    ]
    anchored = [Head(1, "team", 5, links[-1])]
    assert check_team("team", rows, linked, anchored).ok
    assert not check_team("team", rows, linked).ok  # anchored by anchor #1, which lacks the head
    gone = check_team("team", rows[:2] + rows[3:], linked, anchored)
    assert [(f.kind, f.version) for f in gone.findings] == [("deleted", 3)]
