"""The fast read paths decode exactly what the library's own path decodes.

* :class:`~ltflow.store.transcoder.FastJSONTranscoder` (orjson, then the transcodings) against the
  library's :class:`JSONTranscoder`, on stored events and on generated values;
* the lean decoding (personal fields opened with each team's keys, fetched once per batch, or
  kept encrypted as the projections read them) against the shredding mapper, before and after
  an erasure;
* the key stores' ``get_many`` against ``get``.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from ltflow.aggregates.vocabulary import parse_sender_event
from ltflow.eventstore.application import LearningTeams
from ltflow.eventstore.decode import EventDecoder
from ltflow.privacy.fields import ERASED, BatchKeys, ShreddingMapper, is_encrypted
from ltflow.projections.log import EventLog, StoredTeamEvent
from ltflow.store.events import event_rows
from ltflow.store.transcoder import FastJSONTranscoder
from tests.conftest import Clock
from tests.integration.helpers import run_narrative


def _pair() -> tuple[JSONTranscoder, FastJSONTranscoder]:
    plain, fast = JSONTranscoder(), FastJSONTranscoder()
    for transcoder in (plain, fast):
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
            transcoder.register(transcoding)
    return plain, fast


_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too: orjson refuses those, json reads them
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.datetimes(timezones=st.just(UTC)),
)
_values = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(_values)
def test_the_fast_transcoder_reads_what_the_library_reads(value: Any) -> None:
    plain, fast = _pair()
    data = plain.encode({"value": value})
    assert _same(fast.decode(data), plain.decode(data))


def test_the_fast_transcoder_reads_the_rare_json_orjson_refuses() -> None:
    plain, fast = _pair()
    for raw in (b'{"x":NaN}', b'{"x":123456789012345678901234567890}', b'{"x":-Infinity}'):
        assert _same(fast.decode(raw), plain.decode(raw))
    with pytest.raises(json.JSONDecodeError):
        fast.decode(b'{"x":')


def test_stored_events_decode_the_same_either_way(app: LearningTeams, clock: Clock) -> None:
    team_id, _ = run_narrative(app, clock)
    plain, fast = _pair()
    assert isinstance(app.mapper.transcoder, FastJSONTranscoder)
    stored = list(app.recorder.select_events(team_id))
    assert len(stored) > 20
    for event in stored:
        state = app.mapper.cipher.decrypt(event.state) if app.mapper.cipher else event.state
        assert _same(fast.decode(state), plain.decode(state))


def _lean_and_full(app: LearningTeams, *, opened: bool = True) -> list[tuple[Any, Any]]:
    """The lean decoder's events beside the mapper's: with personal fields opened (the
    decoder of the audit's readers), or as stored (the projections' log)."""
    assert isinstance(app.mapper, ShreddingMapper)
    notifications = app.recorder.select_notifications(0, 10_000)
    if opened:
        rows = event_rows(app.recorder).page(0, 10_000)
        lean = [e for e in EventDecoder(app.mapper).decode(rows) if e is not None]
        # The mapper with plain key lookups, no batch: the reference reading.
        full = [app.mapper.to_domain_event(n) for n in notifications]
    else:
        lean = [event for _, event in EventLog(app).read(0, 10_000) if event is not None]
        full = [Mapper.to_domain_event(app.mapper, n) for n in notifications]  # as stored
    assert len(full) == len(lean)
    return list(zip(lean, full, strict=True))


@pytest.mark.parametrize("opened", [True, False], ids=["opened", "as-stored"])
def test_the_lean_decoder_reads_personal_fields_as_the_mapper_does(
    app: LearningTeams, clock: Clock, opened: bool
) -> None:
    run_narrative(app, clock)
    pairs = _lean_and_full(app, opened=opened)
    assert any(isinstance(lean, StoredTeamEvent) and lean.TYPE == "reflection.noted"
               for lean, _ in pairs)  # fmt: skip
    for lean, full in pairs:
        assert (lean.TYPE, lean.originator_id, lean.originator_version) == (
            full.TYPE,
            full.originator_id,
            full.originator_version,
        )
        assert (lean.occurred_at, lean.actor, lean.payload) == (
            full.occurred_at,
            full.actor,
            full.payload,
        )
    names = {full.payload.get("display_name") for _, full in pairs}
    assert ("Bram (day nurse)" in names) is opened
    if not opened:  # the projections' log: every personal field as stored, encrypted
        assert all(is_encrypted(n) for n in names if n is not None)


def test_after_an_erasure_the_next_batch_reads_erased(app: LearningTeams, clock: Clock) -> None:
    team_id, _ = run_narrative(app, clock)
    decoder = EventDecoder(app.mapper)
    rows = event_rows(app.recorder)
    before = [e for e in decoder.decode(rows.page(0, 10_000)) if e is not None]
    assert "Bram (day nurse)" in {e.payload.get("display_name") for e in before}
    erase = parse_sender_event(
        {"type": "participant.erased", "event_id": "erase-1", "participant_id": "p-bram"}
    )
    app.record(team_id, erase, actor="privacy-officer", received_at=clock())
    # The same decoder object: keys are looked up afresh for each batch.
    after = [e for e in decoder.decode(rows.page(0, 10_000)) if e is not None]
    bram = [e for e in after if e.payload.get("participant_id") == "p-bram"]
    assert {e.payload["display_name"] for e in bram if e.TYPE == "participant.invited"} == {ERASED}
    assert {e.payload["perspective"] for e in bram if e.TYPE == "perspective.shared"} == {ERASED}
    for lean, full in _lean_and_full(app):
        assert lean.payload == full.payload


def test_get_many_answers_what_get_answers(app: LearningTeams) -> None:
    keys = app.keys
    assert keys is not None
    teams = [uuid4() for _ in range(3)]
    made = {(t, p): keys.get_or_create(t, p) for t in teams[:2] for p in ("p-a", "p-b")}
    keys.delete(teams[1], "p-b")
    del made[(teams[1], "p-b")]
    assert keys.get_many(teams) == made
    assert keys.get_many([]) == {}
    batch = BatchKeys(keys)
    batch.prefetch(teams)
    for (team, pid), key in made.items():
        assert batch.aead(team, pid) is not None
        assert keys.get(team, pid) == key
    assert batch.aead(teams[1], "p-b") is None  # erased: nothing to open with
    assert batch.aead(teams[2], "p-x") is None  # never had a key


def test_a_batch_of_reads_never_writes_keys(app: LearningTeams) -> None:
    assert app.keys is not None
    batch = BatchKeys(app.keys)
    with pytest.raises(NotImplementedError):
        batch.get_or_create(UUID(int=1), "p")
    with pytest.raises(NotImplementedError):
        batch.delete(UUID(int=1), "p")


def test_decimal_and_nested_datetimes_survive_the_fast_reader() -> None:
    plain, fast = _pair()
    moment = datetime(2026, 3, 2, 9, tzinfo=UTC)
    value = {"a": [Decimal("1.10"), {"b": moment + timedelta(days=1)}], "u": UUID(int=7)}
    data = plain.encode(value)
    assert fast.decode(data) == value == plain.decode(data)


def test_the_lean_reading_leaves_inexact_numbers_to_the_mapper(app: LearningTeams) -> None:
    log = EventLog(app)
    head = (
        b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-03-02T09:00:00+00:00"},'
        b'"occurred_at":{"_type_":"datetime_iso","_data_":"2026-03-02T09:00:00+00:00"},'
        b'"actor":"a","payload":'
    )
    state = head + b'{"session":1,"attendees":["p-a"]}}'
    if app.mapper.cipher is not None:
        state = app.mapper.cipher.encrypt(state)
    fields = log.decoder.fields(state)
    assert fields is not None
    assert fields["payload"] == {"session": 1, "attendees": ["p-a"]}
    for odd in (b'{"session":123456789012345678901234567890}}', b'{"x":[1.5]}}', b'{"x":NaN}}'):
        state = head + odd
        if app.mapper.cipher is not None:
            state = app.mapper.cipher.encrypt(state)
        assert log.decoder.fields(state) is None  # read by the (exact) mapper instead
