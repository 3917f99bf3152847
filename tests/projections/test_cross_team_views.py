"""The views across teams name no case and no person to a reader outside the team (issue 21),
on SQLite and on PostgreSQL: an attacker with guessed case numbers, and who sees what."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from ltflow.access.policy import Viewer
from ltflow.eventstore.application import team_id_for
from ltflow.projections import action_tracker, deadlines, learning_library, theme_trends
from ltflow.projections.cross_team import ViewIds
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import ViewStore
from ltflow.workflows.learning_team import workflow_id_for
from tests.conftest import BACKENDS, backend_settings
from tests.projections.named_cases import (
    AUDITOR,
    CANDIDATES,
    CLOSED,
    FACILITATOR_OF_FOLLOWING,
    FAMILY_IN_CLOSED,
    FOLLOWING,
    NAMES,
    NOT_SHARED,
    QUALITY_OFFICER,
    REFLECTING,
    SERVICE,
    SHARED,
    SPONSOR,
    STRANGER,
    SUBJECTS,
    TITLES,
    World,
    named_world,
)

IDS = ViewIds(b"\x01" * 32)
NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
OUTSIDERS = [SERVICE, QUALITY_OFFICER, SPONSOR]


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with named_world(backend_settings(request, tmp_path_factory.mktemp("anonymity"))) as built:
        yield built


def everything(store: ViewStore, viewer: Viewer, ids: ViewIds = IDS) -> dict[str, list[Any]]:
    """Every entry of the four views across teams, as this viewer gets them."""
    return {
        "library": learning_library.list_library(store, ids=ids),
        "trends": theme_trends.theme_trends(store),
        "actions": action_tracker.list_actions(store, viewer=viewer, ids=ids, today=NOW.date()),
        "deadlines": deadlines.list_deadlines(store, viewer=viewer, ids=ids, now=NOW),
    }


def as_text(found: dict[str, list[BaseModel]]) -> str:
    return json.dumps({k: [e.model_dump(mode="json") for e in v] for k, v in found.items()})


def attacker_strings(case_ref: str) -> list[str]:
    """What an attacker computes from a guessed case number (the namespace is in the source)."""
    team_id = team_id_for(case_ref)
    return [case_ref, str(team_id), team_id.hex, workflow_id_for(team_id), str(team_id).upper()]


@pytest.mark.parametrize("viewer", OUTSIDERS, ids=["service", "quality_officer", "sponsor"])
def test_an_outsider_with_guessed_case_numbers_matches_no_entry_to_its_case(
    world: World, viewer: Viewer
) -> None:
    assert set(world.ids) <= set(CANDIDATES)  # the real cases are among the guesses
    found = everything(world.store, viewer)
    # Entries to attack (the sponsor sees only the team it sponsors, which has no deadlines).
    assert found["library"]
    assert found["actions"]
    assert found["trends"]
    assert found["deadlines"] or viewer is SPONSOR
    text = as_text(found)
    for case_ref in CANDIDATES:
        for computed in attacker_strings(case_ref):
            assert computed.lower() not in text.lower(), (case_ref, computed)
    for word in [*TITLES.values(), *NAMES, *SUBJECTS.values()]:
        assert word not in text, word
    # The filters answer as if nothing matched, for a real team exactly as for an unknown one.
    for case_ref in CANDIDATES:
        guessed = team_id_for(case_ref)
        assert (
            action_tracker.list_actions(
                world.store, viewer=viewer, ids=IDS, today=NOW.date(), team_id=guessed
            )
            == []
        )
        assert (
            deadlines.list_deadlines(world.store, viewer=viewer, ids=IDS, now=NOW, team_id=guessed)
            == []
        )
    for name in NAMES:
        assert (
            action_tracker.list_actions(
                world.store, viewer=viewer, ids=IDS, today=NOW.date(), owner=name
            )
            == []
        )


def test_outsiders_see_teams_by_view_id_and_people_by_role(world: World) -> None:
    found = everything(world.store, SERVICE)
    by_team = {IDS.of(t): ref for ref, t in world.ids.items()}
    assert {by_team[a.view_id] for a in found["actions"]} == {CLOSED, FOLLOWING}
    assert {a.owner for a in found["actions"]} == {"the owner"}
    assert {(a.team_id, a.case_ref, a.title) for a in found["actions"]} == {(None, None, None)}
    assert {by_team[d.view_id] for d in found["deadlines"]} == {FOLLOWING, REFLECTING}
    assert {d.facilitator for d in found["deadlines"]} == {"the facilitator"}
    assert {(d.team_id, d.case_ref, d.title) for d in found["deadlines"]} == {(None, None, None)}
    # A team's entries are found again by its view id, the one way to filter for an outsider.
    following = IDS.of(world.ids[FOLLOWING])
    mine = action_tracker.list_actions(
        world.store, viewer=SERVICE, ids=IDS, today=NOW.date(), view_id=following
    )
    assert [a.view_id for a in mine] == [following]
    kinds = deadlines.list_deadlines(
        world.store, viewer=SERVICE, ids=IDS, now=NOW, view_id=following, kinds=["review.due"]
    )
    assert [(d.view_id, d.kind) for d in kinds] == [(following, "review.due")]


def test_the_library_and_trends_carry_the_learning_and_no_name(world: World) -> None:
    [entry] = learning_library.list_library(world.store, ids=IDS)
    assert entry.view_id == IDS.of(world.ids[CLOSED])
    assert (entry.theme, entry.trigger, entry.month) == ("medication", "incident", "2026-03")
    assert entry.perspectives == [SHARED]
    assert [s.summary for s in entry.stories] == [
        "One screen, one dose: how ward teams stopped double insulin"
    ]
    assert [lp.text for lp in entry.learning_points] == ["One screen shows the dose"]
    text = entry.model_dump_json()
    for word in [*NAMES, *TITLES.values(), CLOSED, str(world.ids[CLOSED]), NOT_SHARED, "email"]:
        assert word not in text, word
    assert set(entry.model_dump()) == {
        "view_id",
        "theme",
        "trigger",
        "month",
        "stories",
        "learning_points",
        "perspectives",
    }
    assert {s for story in entry.model_dump()["stories"] for s in story} == {"summary", "month"}
    trends = theme_trends.theme_trends(world.store)
    assert {t.theme for t in trends} == {"medication", "falls", "sepsis"}
    assert set(trends[0].model_dump()) == {
        "theme",
        "month",
        "teams",
        "learning_points",
        "safety_nets",
    }


def test_inside_the_team_and_auditors_see_ids_titles_and_owners(world: World) -> None:
    today = NOW.date()
    everyone = action_tracker.list_actions(world.store, viewer=AUDITOR, ids=IDS, today=today)
    assert {(a.case_ref, a.title, a.owner) for a in everyone} == {
        (CLOSED, TITLES[CLOSED], "Cy Mulder"),
        (FOLLOWING, TITLES[FOLLOWING], "Ed Kok"),
    }
    assert {a.team_id for a in everyone} == {world.ids[CLOSED], world.ids[FOLLOWING]}
    # The facilitator of one team sees it whole, and nothing of the others.
    gert = action_tracker.list_actions(
        world.store, viewer=FACILITATOR_OF_FOLLOWING, ids=IDS, today=today
    )
    assert [(a.team_id, a.case_ref, a.owner) for a in gert] == [
        (world.ids[FOLLOWING], FOLLOWING, "Ed Kok")
    ]
    assert (
        action_tracker.list_actions(
            world.store, viewer=FACILITATOR_OF_FOLLOWING, ids=IDS, today=today, owner="Ed Kok"
        )
        == gert
    )
    assert (
        action_tracker.list_actions(
            world.store,
            viewer=FACILITATOR_OF_FOLLOWING,
            ids=IDS,
            today=today,
            team_id=world.ids[FOLLOWING],
        )
        == gert
    )
    his = deadlines.list_deadlines(world.store, viewer=FACILITATOR_OF_FOLLOWING, ids=IDS, now=NOW)
    assert {(d.case_ref, d.facilitator) for d in his} == {(FOLLOWING, "Gert Bos")}
    # The owner of a safety net stands in that team, but outside it: the policy's OUTSIDE.
    cy = action_tracker.list_actions(world.store, viewer=person_cy(), ids=IDS, today=today)
    assert [(a.case_ref, a.owner) for a in cy] == [(None, "the owner")]


def person_cy() -> Viewer:
    return Viewer(subject="sub-cy", kind="person", scopes=frozenset({"teams:read"}))


def test_a_family_participant_sees_the_team_but_its_staff_by_role(world: World) -> None:
    [action] = action_tracker.list_actions(
        world.store, viewer=FAMILY_IN_CLOSED, ids=IDS, today=NOW.date()
    )
    assert (action.team_id, action.case_ref, action.title) == (
        world.ids[CLOSED],
        CLOSED,
        TITLES[CLOSED],
    )
    assert action.owner == "the owner"
    assert (
        action_tracker.list_actions(
            world.store, viewer=FAMILY_IN_CLOSED, ids=IDS, today=NOW.date(), owner="Cy Mulder"
        )
        == []
    )


def test_a_person_who_stands_in_no_team_sees_no_actions_or_deadlines(world: World) -> None:
    found = everything(world.store, STRANGER)
    assert (found["actions"], found["deadlines"]) == ([], [])
    assert found["library"]  # the library is for everyone who may read it
    # A participant sees the deadlines of their own team only.
    bo = Viewer(subject="sub-bo", kind="person", scopes=frozenset({"teams:read"}))
    mine = deadlines.list_deadlines(world.store, viewer=bo, ids=IDS, now=NOW)
    assert {d.case_ref for d in mine} == {REFLECTING}  # his closed team has none left


def test_view_ids_survive_a_rebuild_and_differ_with_the_key(world: World) -> None:
    before = as_text(everything(world.store, SERVICE))
    ProjectionRunner(world.app, world.store).rebuild()
    assert as_text(everything(world.store, SERVICE)) == before
    other = ViewIds(b"\x02" * 32)
    ours = {a.view_id for a in everything(world.store, SERVICE)["actions"]}
    theirs = {a.view_id for a in everything(world.store, SERVICE, other)["actions"]}
    assert len(ours) == len(theirs) == 2
    assert not ours & theirs
