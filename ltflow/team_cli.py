"""``ltflow team open|send|show|next|repair|list`` and ``ltflow participant erase``: the
commands on teams. A team is named by its id or by the ``case_ref`` it was opened for
(:func:`team_ref`). :func:`dispatch` runs the one the parsed arguments name (parsers: ``cli``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ltflow.config import Settings

OK = 0


class UsageError(Exception):
    """The command line itself is wrong (bad JSON, an unreadable @file): exit code 2."""


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    """Run the team or participant command ``args`` names; its exit code."""
    if args.command == "participant":
        return _erase(args, settings)
    if args.team_command == "list":
        return _list_teams(args, settings)
    if args.team_command == "repair":
        return asyncio.run(_repair(args, settings))
    if args.team_command == "next":
        return asyncio.run(_next(args, settings))
    return asyncio.run(_team(args, settings))


def team_ref(text: str) -> UUID:
    """A team id, or the team id of the ``case_ref`` it was opened for."""
    from ltflow.eventstore.application import team_id_for

    text = text.strip()
    if not text:
        raise UsageError("Name a team by its id or case_ref.")
    try:
        return UUID(text)
    except ValueError:
        return team_id_for(text)


def _store_decodes(settings: Settings, team_id: UUID) -> None:
    """Read the team's stored events once before an erasure: a store this process cannot decode
    fails here, with the sentence naming the key, before anything is recorded (the erasure
    rebuilds the read models from the store afterwards, which would quarantine the team)."""
    from ltflow.aggregates.errors import TeamNotFoundError
    from ltflow.eventstore.application import LearningTeams

    app = LearningTeams.from_settings(settings)
    try:
        app.history(team_id)
    except TeamNotFoundError:
        pass  # the workflow says so, in its words
    finally:
        app.close()


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    from ltflow.privacy.erasure import erase_participant

    team_id = team_ref(args.team)
    _store_decodes(settings, team_id)
    summary = asyncio.run(
        erase_participant(
            settings, team_id, args.participant_id, actor=args.actor, reason=args.reason
        )
    )
    if args.json:
        print(summary.model_dump_json())
    else:
        print(
            f"Erased {args.participant_id} from team {team_id}: their personal fields "
            "are unreadable from now on, and the read models were rebuilt."
        )
    return OK


def _list_teams(args: argparse.Namespace, settings: Settings) -> int:
    from ltflow.projections.store import ViewStore
    from ltflow.projections.team_overview import list_teams

    with ViewStore.from_settings(settings) as store:
        teams = list_teams(
            store,
            now=datetime.now(UTC),
            phase=args.phase,
            theme=args.theme,
            trigger=args.trigger,
            status=args.status,
        )
    if args.json:
        print(json.dumps([t.model_dump(mode="json") for t in teams]))
        return OK
    print(f"{'TEAM':<36}  {'CASE':<16} {'PHASE':<5} {'STATUS':<9} {'PEOPLE':>6}  TITLE")
    for t in teams:
        print(
            f"{t.team_id!s:<36}  {t.case_ref[:16]:<16} {t.phase:<5} {t.status:<9} "
            f"{t.participants:>6}  {t.title}"
        )
    return OK


def _read_body(text: str) -> Any:
    """The JSON of a body argument; a body that is not JSON is a usage error (exit 2)."""
    source = "the body"
    if text == "-":
        text, source = sys.stdin.read(), "standard input"
    elif text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as f:
                text, source = f.read(), text[1:]
        except OSError as exc:
            raise UsageError(f"The body file {text[1:]} cannot be read: {exc.strerror}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source[0].upper()}{source[1:]} is not valid JSON: {exc.msg} (line {exc.lineno}, "
            f"column {exc.colno})."
        ) from None


async def _team(args: argparse.Namespace, settings: Settings) -> int:
    from ltflow.aggregates import vocabulary as v
    from ltflow.privacy.keys import key_store_for
    from ltflow.workflows.client import LtflowClient
    from ltflow.workflows.naming import workflow_ids_for
    from ltflow.workflows.runtime import temporal_client

    # Parsed once, here, before anything connects: bad input changes nothing.
    body = _read_body(args.body) if hasattr(args, "body") else {}
    convene = (
        v.parse_convene(body, min_policy_duration=settings.policy_floor)
        if args.team_command == "open"
        else None
    )
    event = v.parse_sender_event(body) if args.team_command == "send" else None
    team_id = team_ref(args.team) if hasattr(args, "team") else None
    # Personal fields are encrypted before they enter Temporal: with the installation's keys.
    keys = key_store_for(settings) if event is not None and type(event).personal else None
    try:
        async with temporal_client(settings) as client:
            ltflow = LtflowClient(
                client, settings.task_queue, keys=keys, workflow_ids=workflow_ids_for(settings)
            )
            if convene is not None:
                summary = await ltflow.open_team(convene, actor=args.actor)
            elif event is not None and team_id is not None:
                summary = await ltflow.send(team_id, event, actor=args.actor)
            else:
                assert team_id is not None
                summary = await ltflow.summary(team_id)
    finally:
        if keys is not None:
            keys.close()
    if args.json:
        print(summary.model_dump_json())
    else:
        people = summary.active_participants
        print(
            f"team {summary.team_id}  case {summary.case_ref}\n"
            f"phase {int(summary.phase)} ({summary.phase_name}), {summary.status.value}, "
            f"version {summary.version}, {plural(people, 'participant')}"
        )
    return OK


def plural(count: int, word: str) -> str:
    """``1 participant``, ``2 participants``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


async def _next(args: argparse.Namespace, settings: Settings) -> int:
    from ltflow.aggregates.next_steps import next_steps
    from ltflow.aggregates.state import summarize
    from ltflow.workflows.client import LtflowClient
    from ltflow.workflows.naming import workflow_ids_for
    from ltflow.workflows.runtime import temporal_client

    team_id = team_ref(args.team)
    async with temporal_client(settings) as client:
        ltflow = LtflowClient(client, settings.task_queue, workflow_ids=workflow_ids_for(settings))
        state = await ltflow.state(team_id)
    if state is None:
        from ltflow.aggregates.errors import TeamNotFoundError

        raise TeamNotFoundError(f"No Learning Team with id {team_id}.", team_id=str(team_id))
    steps = next_steps(state, datetime.now(UTC))
    if args.json:
        print(steps.model_dump_json())
        return OK
    summary = summarize(state)
    print(
        f"team {summary.team_id}  case {summary.case_ref}: phase {int(summary.phase)} "
        f"({summary.phase_name}), {summary.status.value}"
    )
    for step in steps.steps:
        mark = "ready" if step.ready else "not yet"
        print(f"  {mark:<8} {step.type:<26} {step.needs or ''}".rstrip())
    return OK


async def _repair(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from ltflow.workflows.client import LtflowClient
    from ltflow.workflows.naming import workflow_ids_for
    from ltflow.workflows.runtime import temporal_client

    async with temporal_client(settings) as client:
        ltflow = LtflowClient(client, settings.task_queue, workflow_ids=workflow_ids_for(settings))
        result = await ltflow.repair(team_ref(args.team))
    if args.json:
        print(json.dumps(asdict(result), default=str))
    else:
        print(
            f"Restarted the workflow of team {result.team_id} (its last run was "
            f"{result.previous_status.lower()}): the new run {result.run_id} loads the team from "
            "the event store and takes events again."
        )
    return OK
