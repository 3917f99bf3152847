"""Who sees and may send what: role by route by field, through the real HTTP app, on both backends.

One case is walked to session 1 by its facilitator (a person), with a staff participant bound to
her identity, a participant without an account (the facilitator writes for him), a patient, and
a sponsor. Then every role reads the team and tries to send; the tables below are the access
policy of ``docs/access.md`` written out independently of ``ltflow.access.policy``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from ltflow import LtflowPlugin
from ltflow.aggregates.bounds import DEV_POLICY_FLOOR
from ltflow.api import create_app
from ltflow.api.auth import Principal, TokenRegistry
from ltflow.api.server import running
from ltflow.audit import access_log
from ltflow.audit.service import Audit
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.privacy.keyring import new_key
from ltflow.projections.service import ProjectionService
from ltflow.workflows.client import LtflowClient
from tests.api.helpers import assert_error, new_case
from tests.conftest import BACKENDS, backend_settings

ALL_SERVICE_SCOPES = ["events:write", "teams:read", "teams:abandon", "participants:erase"]
#: name -> (principal); the token of each is ``tok-<name>``.
PEOPLE: dict[str, Principal] = {
    "facilitator": Principal(
        "sub-fleur",
        frozenset({"events:write", "teams:read"}),
        "person",
        "Fleur",
        frozenset({"facilitator"}),
    ),
    "anna": Principal("sub-anna", frozenset({"events:write", "teams:read"}), "person", "Anna"),
    "patient": Principal("sub-pat", frozenset({"events:write", "teams:read"}), "person", "Pat"),
    "sponsor": Principal("sub-sam", frozenset({"events:write", "teams:read"}), "person", "Sam"),
    "quality": Principal(
        "sub-quinn",
        frozenset({"events:write", "teams:read"}),
        "person",
        "Quinn",
        frozenset({"quality_officer"}),
    ),
    "auditor": Principal(
        "sub-aud",
        frozenset({"events:write", "teams:read", "audit:read"}),
        "person",
        "Ada",
        frozenset({"auditor"}),
    ),
    "privacy": Principal(
        "sub-priv",
        frozenset({"events:write", "teams:read", "audit:read"}),
        "person",
        "Pim",
        frozenset({"privacy_officer"}),
    ),
    "stranger": Principal("sub-str", frozenset({"events:write", "teams:read"}), "person", "Stan"),
    "dashboard": Principal("dashboard", frozenset({"teams:read"})),
    "intake": Principal("intake-bot", frozenset({"events:write"})),
    "incident": Principal("incident-system", frozenset(ALL_SERVICE_SCOPES)),
}

ANNA_SECRET = "Anna-untold-Qx7"  # shared without consent
BRAM_SHARED = "Bram-shared-Qx7"  # shared with consent, written by the facilitator for him
PAT_STORY = "Pat-story-Qx7"  # a patient's own, without consent
NAMES = {"Anna Jansen", "Bram de Vries", "Pat Visser", "Chen Li"}


def _registry() -> TokenRegistry:
    return TokenRegistry(
        {hashlib.sha256(f"tok-{n}".encode()).digest(): p for n, p in PEOPLE.items()}
    )


def _auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer tok-{name}"}


@dataclass
class Live:
    http: httpx.AsyncClient
    events: LearningTeams
    projections: ProjectionService
    audit: Audit
    team_id: str = ""
    case_ref: str = ""

    async def settle(self) -> None:
        target = self.events.recorder.max_notification_id() or 0
        self.projections.wake()
        done = await asyncio.to_thread(self.projections.wait_for, target, 10.0)
        assert done, "the read models did not catch up"

    async def send(self, who: str, event: dict[str, Any]) -> httpx.Response:
        return await self.http.post(f"/teams/{self.team_id}/events", json=event, headers=_auth(who))

    async def ok(self, who: str, event: dict[str, Any]) -> None:
        response = await self.send(who, event)
        assert response.status_code == 200, response.text

    def version(self) -> int:
        return len(self.events.history(uuid.UUID(self.team_id)))

    def log_size(self) -> int:
        return len(access_log.entries(self.audit.store))


@pytest.fixture(scope="module", params=BACKENDS)
async def live(
    request: pytest.FixtureRequest,
    dev_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Live]:
    base = backend_settings(request, tmp_path_factory.mktemp("access"))
    settings: Settings = dataclasses.replace(
        base,
        task_queue=f"tq-{uuid.uuid4().hex[:8]}",
        min_policy_duration=DEV_POLICY_FLOOR,
        view_id_key=new_key(),  # the cross-team views' key (issue 21)
    )
    plugin = LtflowPlugin(settings)
    client = Client(
        dev_env.client.service_client, namespace=dev_env.client.namespace, plugins=[plugin]
    )
    events = LearningTeams.from_settings(settings)
    projections = ProjectionService.from_settings(settings, events, poll_interval=0.05).start()
    audit = Audit.from_settings(settings, events)
    app = create_app(
        settings,
        client=LtflowClient(client, settings.task_queue, search_attributes=False, keys=events.keys),
        views=projections.runner.store,
        tokens=_registry(),
        projections=projections,
        audit=audit,
    )
    try:
        async with (
            Worker(client, task_queue=settings.task_queue),
            running(app) as server,
            httpx.AsyncClient(base_url=server.url, timeout=30) as http,
        ):
            state = Live(http, events, projections, audit)
            await _walk_to_session_one(state)
            yield state
    finally:
        projections.stop()
        projections.runner.store.close()
        audit.close()
        events.close()


async def _walk_to_session_one(live: Live) -> None:
    opened = await live.http.post("/teams", json=new_case("ACC"), headers=_auth("facilitator"))
    assert opened.status_code == 201, opened.text
    live.team_id = str(opened.json()["team_id"])
    live.case_ref = str(opened.json()["case_ref"])
    invites = [
        ("p-anna", "Anna Jansen", "nurse", {"subject": "sub-anna"}),
        ("p-bram", "Bram de Vries", "physician", {}),
        ("p-pat", "Pat Visser", "patient", {"subject": "sub-pat", "relation": "patient"}),
        ("p-chen", "Chen Li", "pharmacist", {}),
    ]
    for pid, name, role, extra in invites:
        await live.ok(
            "facilitator",
            {
                "type": "participant.invited",
                "event_id": f"inv-{pid}",
                "participant_id": pid,
                "display_name": name,
                "role": role,
                **extra,
            },
        )
    await live.ok(
        "facilitator",
        {"type": "sponsor.assigned", "event_id": "sponsor", "sponsor_id": "sub-sam"},
    )
    await live.ok("facilitator", {"type": "scope.confirmed", "event_id": "scope"})
    await live.ok("anna", _perspective("p-anna", ANNA_SECRET, consent=False))
    await live.ok("facilitator", _perspective("p-bram", BRAM_SHARED, consent=True))
    await live.ok("patient", _perspective("p-pat", PAT_STORY, consent=False))
    await live.settle()


def _perspective(pid: str, text: str, *, consent: bool) -> dict[str, Any]:
    return {
        "type": "perspective.shared",
        "event_id": f"persp-{pid}-{uuid.uuid4().hex[:6]}",
        "participant_id": pid,
        "perspective": text,
        "consent_to_share": consent,
    }


# --- reading a team: who sees which field -------------------------------------------------------

#: viewer -> (sees Anna's unconsented perspective, sees Bram's consented one, sees staff names,
#: sees the facilitator's name)
READS: dict[str, tuple[bool, bool, bool, bool]] = {
    "facilitator": (True, True, True, True),
    "anna": (True, True, True, True),
    "patient": (True, True, False, False),  # the team's stories, the staff by role
    "sponsor": (False, True, False, True),
    "quality": (False, True, False, True),
    "dashboard": (False, True, False, True),
    "incident": (False, True, False, True),
    "auditor": (True, True, True, True),
    "privacy": (True, True, True, True),
}


@pytest.mark.parametrize("viewer", sorted(READS))
async def test_each_role_sees_what_the_policy_shows(live: Live, viewer: str) -> None:
    unconsented, consented, names, facilitator = READS[viewer]
    before = live.log_size()
    response = await live.http.get(f"/teams/{live.team_id}", headers=_auth(viewer))
    assert response.status_code == 200, response.text
    body = response.json()
    text = response.text
    assert (ANNA_SECRET in text) is unconsented
    assert (BRAM_SHARED in text) is consented
    shown_names = {p["display_name"] for p in body["participants"]} & NAMES
    if viewer == "patient":
        assert shown_names == {"Pat Visser"}  # their own name only
    else:
        assert bool(shown_names) is names
        assert (shown_names == NAMES) is names
    assert (body["facilitator"] != "the facilitator") is facilitator
    # No identity leaves the team's inner circle except to the team and auditors.
    subjects_shown = "sub-anna" in text
    assert subjects_shown is (viewer in {"facilitator", "anna", "auditor", "privacy"})
    # The read showed personal input: it is in the access log, with whose.
    entries = access_log.entries(live.audit.store, team_id=live.team_id)
    assert live.log_size() == before + 1
    last = entries[-1]
    assert last.action == "team.read"
    assert last.actor == PEOPLE[viewer].actor
    assert ("p-anna" in last.detail["participants"]) is unconsented
    assert "p-bram" in last.detail["participants"]


async def test_a_person_outside_the_team_learns_nothing_not_even_that_it_exists(
    live: Live,
) -> None:
    before = live.log_size()
    known = await live.http.get(f"/teams/{live.team_id}", headers=_auth("stranger"))
    unknown = await live.http.get(f"/teams/{uuid.uuid4()}", headers=_auth("stranger"))
    a = assert_error(known, 404, "team_not_found")
    b = assert_error(unknown, 404, "team_not_found")
    # The same sentence and details, but for the id asked about.
    assert a["message"].replace(live.team_id, "X") == b["message"].replace(
        b["details"]["team_id"], "X"
    )
    listed = await live.http.get("/teams", headers=_auth("stranger"))
    assert listed.status_code == 200
    assert live.team_id not in listed.text
    assert live.log_size() == before  # nothing shown, nothing logged as read


@pytest.mark.parametrize("path", ["", "/next"])
async def test_a_case_ref_tells_an_outsider_no_more_than_a_guessed_one(
    live: Live, path: str
) -> None:
    """Named by its case_ref, a team the caller may not see answers as an unknown case does:
    guessed case numbers reveal nothing."""
    before = live.log_size()
    guess = f"ACC-{uuid.uuid4().hex[:10]}"
    known = await live.http.get(f"/teams/{live.case_ref}{path}", headers=_auth("stranger"))
    unknown = await live.http.get(f"/teams/{guess}{path}", headers=_auth("stranger"))
    a = assert_error(known, 404, "team_not_found")
    b = assert_error(unknown, 404, "team_not_found")
    assert a["message"].replace(live.case_ref, "X") == b["message"].replace(guess, "X")
    assert set(a["details"]) == set(b["details"])
    assert live.log_size() == before
    seen = await live.http.get(f"/teams/{live.case_ref}{path}", headers=_auth("facilitator"))
    assert seen.status_code == 200, seen.text


@pytest.mark.parametrize("viewer", ["facilitator", "anna", "patient", "sponsor"])
async def test_a_person_lists_the_teams_they_stand_in(live: Live, viewer: str) -> None:
    listed = await live.http.get("/teams", headers=_auth(viewer))
    assert listed.status_code == 200, listed.text
    assert [t["team_id"] for t in listed.json()] == [live.team_id]


async def test_a_token_without_the_read_scope_is_forbidden(live: Live) -> None:
    response = await live.http.get(f"/teams/{live.team_id}", headers=_auth("intake"))
    body = assert_error(response, 403, "forbidden")
    assert "teams:read" in body["message"]


# --- sending: who may send what --------------------------------------------------------------


def _red_thread() -> dict[str, Any]:
    return {"type": "red_thread.recorded", "event_id": f"rt-{uuid.uuid4().hex}", "summary": "x"}


#: (who, event, status, code, a word the sentence must carry)
REFUSED: list[tuple[str, Any, int, str, str]] = [
    ("anna", lambda: _perspective("p-bram", "as Bram", consent=True), 403, "forbidden", "p-anna"),
    ("patient", lambda: _perspective("p-anna", "as Anna", consent=True), 403, "forbidden", "p-pat"),
    ("sponsor", lambda: _perspective("p-anna", "x", consent=True), 403, "forbidden", "sponsor"),
    ("sponsor", lambda: {"type": "scope.confirmed", "event_id": "s2"}, 403, "forbidden", "sponsor"),
    ("quality", _red_thread, 403, "forbidden", "facilitator"),
    ("stranger", _red_thread, 404, "team_not_found", "No Learning Team"),
    (
        "intake",
        lambda: {"type": "team.abandoned", "event_id": "ab", "reason": "x"},
        403,
        "forbidden",
        "teams:abandon",
    ),
    (
        "facilitator",
        lambda: {
            "type": "participant.erased",
            "event_id": "er",
            "participant_id": "p-chen",
            "reason": "asked",
        },
        403,
        "forbidden",
        "privacy_officer",
    ),
    (
        "privacy",
        lambda: {"type": "participant.erased", "event_id": "er2", "participant_id": "p-chen"},
        422,
        "invalid_event",
        "reason",
    ),
    ("dashboard", _red_thread, 403, "forbidden", "events:write"),
]


@pytest.mark.parametrize(("who", "make", "status", "code", "word"), REFUSED)
async def test_a_refused_sender_gets_a_sentence_and_nothing_changes(
    live: Live, who: str, make: Any, status: int, code: str, word: str
) -> None:
    version, logged = live.version(), live.log_size()
    response = await live.send(who, make())
    body = assert_error(response, status, code)
    assert word in body["message"], body
    assert live.version() == version  # nothing stored
    assert live.log_size() == logged  # nothing logged as read


async def test_a_participant_gives_consent_later_and_the_sponsor_then_sees_her_story(
    live: Live,
) -> None:
    hidden = await live.http.get(f"/teams/{live.team_id}", headers=_auth("sponsor"))
    assert ANNA_SECRET not in hidden.text
    consent = {
        "type": "consent.changed",
        "event_id": "consent-anna",
        "participant_id": "p-anna",
        "consent_to_share": True,
    }
    assert (
        await live.send(
            "facilitator", {**consent, "participant_id": "p-chen", "event_id": "c-chen"}
        )
    ).status_code == 200
    refused = await live.send("anna", {**consent, "participant_id": "p-chen", "event_id": "c-x"})
    assert_error(refused, 403, "forbidden")
    await live.ok("anna", consent)
    await live.settle()
    shown = await live.http.get(f"/teams/{live.team_id}", headers=_auth("sponsor"))
    assert ANNA_SECRET in shown.text
    # ... and withdrawn again, it is gone from the sponsor's sight (the library follows the
    # same consent: it is derived from this view).
    await live.ok("anna", {**consent, "event_id": "consent-anna-2", "consent_to_share": False})
    await live.settle()
    again = await live.http.get(f"/teams/{live.team_id}", headers=_auth("sponsor"))
    assert ANNA_SECRET not in again.text


async def test_who_viewed_my_input(live: Live) -> None:
    await live.http.get(f"/teams/{live.team_id}", headers=_auth("facilitator"))
    path = f"/teams/{live.team_id}/participants/p-anna/reads"
    mine = await live.http.get(path, headers=_auth("anna"))
    assert mine.status_code == 200, mine.text
    readers = {r["actor"] for r in mine.json()}
    assert "sub-fleur" in readers
    # Those who never saw her untold story are not listed as having read it.
    assert "dashboard" not in readers
    for who in ("sponsor", "facilitator", "patient"):
        assert_error(await live.http.get(path, headers=_auth(who)), 403, "forbidden")
    assert_error(await live.http.get(path, headers=_auth("stranger")), 404, "team_not_found")
    assert (await live.http.get(path, headers=_auth("privacy"))).status_code == 200


async def test_the_authenticated_subject_is_the_actor_of_each_event(live: Live) -> None:
    actors = {f.event_id: f.actor for f in live.events.history(uuid.UUID(live.team_id))}
    assert actors["team.convened"] == "sub-fleur"
    assert actors["inv-p-anna"] == "sub-fleur"
    assert any(a == "sub-anna" for e, a in actors.items() if e.startswith("persp-p-anna"))
    # The facilitator wrote for the participant without an account: the record says who.
    assert any(a == "sub-fleur" for e, a in actors.items() if e.startswith("persp-p-bram"))


async def test_a_privacy_officer_erases_with_a_reason(live: Live) -> None:
    erase = {
        "type": "participant.erased",
        "event_id": "erase-chen",
        "participant_id": "p-chen",
        "reason": "Asked to be forgotten.",
    }
    await live.ok("privacy", erase)
    stored = live.events.history(uuid.UUID(live.team_id))
    assert stored[-1].type == "participant.erased"
    assert stored[-1].actor == "sub-priv"
