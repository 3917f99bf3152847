"""The intake fuzzed: well over a thousand malformed, misplaced or conflicting requests, each
answered with a 4xx and a contract code, and afterwards the event store, the workflow and the
read models are exactly as before.

Most probes are rejected by FastAPI and pydantic before any I/O; the rest reach the workflow's
update validator (wrong phase, a broken rule, a reused event id, a bad ``occurred_at``) or
Temporal itself (an unknown team). The team under fire is in phase 3, session 1 just completed.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltflow.aggregates import rules
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.state import Phase
from ltflow.demo import narrative
from ltflow.projections.team_detail import get_team_detail_json
from tests.api.conftest import Api
from tests.api.helpers import CONTRACT_CODES, drive, new_case

EXAMPLES = 1200
#: Types the rulebook allows in phase 3 (``session.started`` stays: it is too early to start).
ALLOWED_IN_PHASE_3 = {
    t for t, phases in rules.ALLOWED_PHASES.items() if Phase.PROCESSING_TIME in phases
} - {"session.started"}
FREE_TEXT = {"display_name", "role", "reason", "perspective", "note", "summary", "text"}
FREE_TEXT |= {"description", "owner", "hypothesis", "target", "observed", "outcome", "audience"}
FREE_TEXT |= {"channel", "title", "goal", "scope", "facilitator", "theme", "name"}
INVALID, WRONG_PHASE, RULE = (422, "invalid_event"), (409, "wrong_phase"), (409, "rule_violated")
CONFLICT, NOT_FOUND = (409, "idempotency_conflict"), (404, "team_not_found")


def _templates() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for step in narrative.steps(datetime.now(UTC)):
        found.setdefault(step.event["type"], step.event)
    found["team.abandoned"] = {"type": "team.abandoned", "event_id": "x", "reason": "No time."}
    found["participant.erased"] = {
        "type": "participant.erased",
        "event_id": "x",
        "participant_id": "p-eva",
        "reason": "Asked to be forgotten.",
    }
    found["sponsor.assigned"] = {
        "type": "sponsor.assigned",
        "event_id": "x",
        "sponsor_id": "sub-manager",
        "name": "Ward manager",
    }
    found["facilitator.handed_over"] = {
        "type": "facilitator.handed_over",
        "event_id": "x",
        "facilitator": "Fleur",
    }
    found["consent.changed"] = {
        "type": "consent.changed",
        "event_id": "x",
        "participant_id": "p-eva",
        "consent_to_share": True,
    }
    assert set(found) == set(c.SENDER_TYPES)
    return found


TEMPLATES = _templates()


@dataclass
class Target:
    """The team under fire, and everything that must not change."""

    team_id: str
    convene: dict[str, Any]
    sent: dict[str, dict[str, Any]]
    history: list[Any]
    state: Any
    view: str | None
    last_notification: int
    log: Counter[tuple[int, str]] = field(default_factory=Counter)
    reached_workflow: int = 0


@pytest.fixture(scope="module")
async def target(api: Api) -> Target:
    convene = new_case("FUZZ")
    created = await api.http.post("/teams", json=convene)
    team_id = created.json()["team_id"]
    assert (await drive(api.http, team_id, "done-1"))["phase"] == 3
    await api.settle()
    sent = {e["event_id"]: e for e in (s.event for s in narrative.steps(datetime.now(UTC)))}
    stop = list(sent).index("done-1") + 1
    return Target(
        team_id=team_id,
        convene=convene,
        sent=dict(list(sent.items())[:stop]),
        history=api.stored(team_id),
        state=await api.stack.ltflow.state(UUID(team_id)),
        view=get_team_detail_json(api.projections.runner.store, UUID(team_id)),
        last_notification=api.last_notification(),
    )


@dataclass(frozen=True)
class Probe:
    """One request and the answers (status, code) that are right for it."""

    kind: str
    path: str
    body: bytes
    expected: frozenset[tuple[int, str]]
    workflow: bool = False


# --- strategies -------------------------------------------------------------------------------

fresh_ids = st.from_regex(r"fz-[a-z0-9]{1,12}", fullmatch=True)
plain_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=40
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
unusable = st.sampled_from(
    [{"nested": 1}, [{"a": None}], "   ", "", {"": []}, [[1, 2]], "x" * 20_001]
)
EVENTS = "/teams/{team}/events"


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode()


@st.composite
def random_json(draw: st.DrawFn) -> Probe:
    path = draw(st.sampled_from([EVENTS, "/teams"]))
    body = draw(st.one_of(json_values.map(_dump), st.binary(max_size=60)))
    return Probe("random JSON", path, body, frozenset({INVALID}))


@st.composite
def broken_event(draw: st.DrawFn) -> Probe:
    event = {**draw(st.sampled_from(list(TEMPLATES.values()))), "event_id": draw(fresh_ids)}
    model = c.SENDER_TYPES[event["type"]]
    required = ["type", *(n for n, f in model.model_fields.items() if f.is_required())]
    how = draw(st.sampled_from(["drop", "unusable", "unknown field", "hash id"]))
    if how == "drop":
        del event[draw(st.sampled_from(required))]
    elif how == "unusable":
        event[draw(st.sampled_from(sorted(event)))] = draw(unusable)
    elif how == "unknown field":
        event[draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in event))] = 1
    else:
        event["event_id"] = (
            draw(fresh_ids) + "#" + draw(st.from_regex(r"[a-z0-9]{0,5}", fullmatch=True))
        )
    return Probe(f"broken ({how})", EVENTS, _dump(event), frozenset({INVALID}))


@st.composite
def unknown_type(draw: st.DrawFn) -> Probe:
    event = {**draw(st.sampled_from(list(TEMPLATES.values()))), "event_id": draw(fresh_ids)}
    not_sendable = st.sampled_from(sorted({*c.SYSTEM_TYPES, "team.convened"}))
    event["type"] = draw(not_sendable | st.text(max_size=30).filter(lambda t: t not in TEMPLATES))
    return Probe("unknown type", EVENTS, _dump(event), frozenset({INVALID}))


def _vary_text(draw: st.DrawFn, event: dict[str, Any]) -> dict[str, Any]:
    texts = sorted(k for k, v in event.items() if k in FREE_TEXT and isinstance(v, str))
    if texts and draw(st.booleans()):
        event[draw(st.sampled_from(texts))] = draw(plain_text)
    return event


@st.composite
def wrong_phase(draw: st.DrawFn) -> Probe:
    misplaced = sorted(set(TEMPLATES) - ALLOWED_IN_PHASE_3)
    event = {**TEMPLATES[draw(st.sampled_from(misplaced))], "event_id": draw(fresh_ids)}
    event = _vary_text(draw, event)
    return Probe("valid, wrong phase", EVENTS, _dump(event), frozenset({WRONG_PHASE, RULE}), True)


@st.composite
def bad_moment(draw: st.DrawFn) -> Probe:
    event = {**draw(st.sampled_from(list(TEMPLATES.values()))), "event_id": draw(fresh_ids)}
    now = datetime.now(UTC)
    future = st.timedeltas(timedelta(hours=1), timedelta(days=3650)).map(lambda d: now + d)
    past = st.datetimes(datetime(1990, 1, 1), datetime(2020, 1, 1), timezones=st.just(UTC))
    moment = draw(future | past)
    event["occurred_at"] = moment.isoformat()
    expected = {INVALID} if moment > now else {RULE}
    return Probe("occurred_at out of order", EVENTS, _dump(event), frozenset(expected), True)


@st.composite
def changed_repeat(draw: st.DrawFn, sent: dict[str, dict[str, Any]]) -> Probe:
    event = dict(sent[draw(st.sampled_from(sorted(sent)))])
    texts = sorted(k for k, v in event.items() if k in FREE_TEXT and isinstance(v, str))
    if texts and draw(st.booleans()):
        name = draw(st.sampled_from(texts))
        event[name] = f"{event[name]} {draw(plain_text)}"
    else:
        # Within the era a sender may give (beyond it the body is invalid before any lookup).
        moment = draw(
            st.datetimes(datetime(2000, 1, 1), datetime(2999, 12, 31), timezones=st.just(UTC))
        )
        event["occurred_at"] = moment.isoformat()
    return Probe("same event id, other content", EVENTS, _dump(event), frozenset({CONFLICT}), True)


@st.composite
def unknown_team(draw: st.DrawFn) -> Probe:
    event = {**draw(st.sampled_from(list(TEMPLATES.values()))), "event_id": draw(fresh_ids)}
    team = draw(st.uuids().map(str) | st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True))
    return Probe(
        "unknown team", f"/teams/{team}/events", _dump(event), frozenset({NOT_FOUND}), True
    )


@st.composite
def convene_again(draw: st.DrawFn, convene: dict[str, Any]) -> Probe:
    body = dict(convene)
    if draw(st.booleans()):
        name = draw(st.sampled_from(["title", "goal", "scope", "facilitator", "theme"]))
        body[name] = f"{body[name]} {draw(plain_text)}"
        return Probe("convene, other content", "/teams", _dump(body), frozenset({CONFLICT}), True)
    body[draw(st.sampled_from(sorted(body)))] = draw(unusable)
    return Probe("convene, broken", "/teams", _dump(body), frozenset({INVALID}))


def probes(target: Target) -> st.SearchStrategy[Probe]:
    """Two in three probes are refused by pydantic (no I/O); the rest go on to Temporal."""
    refused_at_the_door = st.one_of(random_json(), broken_event(), unknown_type())
    judged_by_the_workflow = st.one_of(
        wrong_phase(),
        bad_moment(),
        changed_repeat(target.sent),
        unknown_team(),
        convene_again(target.convene),
    )
    return st.sampled_from([1, 2, 3]).flatmap(
        lambda n: judged_by_the_workflow if n == 3 else refused_at_the_door
    )


# --- the fuzz -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strategy(target: Target) -> st.SearchStrategy[Probe]:
    return probes(target)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_every_bad_request_is_a_4xx_with_a_contract_code_and_changes_nothing(
    api: Api, target: Target, strategy: st.SearchStrategy[Probe], data: st.DataObject
) -> None:
    probe = data.draw(strategy)
    response = await api.http.post(
        probe.path.format(team=target.team_id),
        content=probe.body,
        headers={"content-type": "application/json"},
    )
    body = response.json()
    answer = (response.status_code, body.get("code"))
    assert answer in probe.expected, (probe, body)
    assert body["code"] in CONTRACT_CODES
    assert set(body) == {"code", "message", "details"}
    assert body["message"].endswith(".")
    target.log[answer] += 1
    assert api.last_notification() == target.last_notification, (probe, body)
    if probe.workflow:
        target.reached_workflow += 1
        assert await api.stack.ltflow.state(UUID(target.team_id)) == target.state, probe


async def test_after_the_fuzz_the_store_the_workflow_and_the_views_are_unchanged(
    api: Api, target: Target
) -> None:
    if not target.log:
        pytest.skip("runs after the fuzz in this module")
    examples = sum(target.log.values())
    figures = ", ".join(f"{s} {code}: {n}" for (s, code), n in sorted(target.log.items()))
    aimed = target.reached_workflow
    print(f"\nfuzz: {examples} requests, {aimed} aimed past pydantic at Temporal; {figures}")
    assert examples >= 1000
    assert {code for _, code in target.log} >= {
        "invalid_event",
        "wrong_phase",
        "rule_violated",
        "idempotency_conflict",
        "team_not_found",
    }
    team = UUID(target.team_id)
    assert api.stored(team) == target.history
    assert await api.stack.ltflow.state(team) == target.state
    await api.settle()
    assert get_team_detail_json(api.projections.runner.store, team) == target.view
    assert api.last_notification() == target.last_notification
    # Still open for business: the next real event is accepted.
    note = {"type": "reflection.noted", "event_id": f"after-{uuid.uuid4().hex[:6]}"}
    note |= {"participant_id": "p-anna", "note": "Still thinking about it."}
    accepted = await api.http.post(f"/teams/{target.team_id}/events", json=note)
    assert accepted.status_code == 200, accepted.text
