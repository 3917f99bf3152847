"""The ``ltflow`` command line (contract section 5). Exit codes: 0 ok, 1 a failed check or a
rejected event (with its clear message), 2 a usage error."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from ltflow import __version__
from ltflow.aggregates.bounds import DEV_POLICY_FLOOR
from ltflow.aggregates.errors import LtflowError
from ltflow.config import Settings
from ltflow.logs import configure_logging

OK, FAILED, USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltflow", description="Run Learning Teams.")
    parser.add_argument("--version", action="version", version=f"ltflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser(
        "demo", help="run one realistic case through all seven phases on the embedded stack"
    )
    commands.add_parser("worker", help="run a worker (embedded dev server when no address is set)")
    for name, text in (
        ("api", "run the HTTP API (and the projections)"),
        ("dev", "the whole stack on this machine: Temporal dev server, worker, projections, API"),
    ):
        server = commands.add_parser(name, help=text)
        server.add_argument("--host", default="127.0.0.1")
        server.add_argument("--port", type=int, default=8000)

    team = commands.add_parser("team", help="open, send to and show teams").add_subparsers(
        dest="team_command", required=True, metavar="ACTION"
    )
    open_ = team.add_parser("open", help="open a team from a team.convened JSON body")
    open_.add_argument("body", help="JSON text, @file, or - for standard input")
    send = team.add_parser("send", help="send one phase event (JSON) to a team")
    send.add_argument("team_id", type=UUID)
    send.add_argument("body", help="JSON text, @file, or - for standard input")
    show = team.add_parser("show", help="show a team's summary")
    show.add_argument("team_id", type=UUID)
    for sub in (open_, send, show):
        sub.add_argument("--actor", default="cli")
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    repair = team.add_parser(
        "repair",
        help="restart a team whose workflow failed, was terminated or timed out, from the store",
    )
    repair.add_argument("team_id", type=UUID)
    repair.add_argument("--json", action="store_true", help="machine-readable output")
    listing = team.add_parser("list", help="list teams from the read models")
    listing.add_argument("--phase", type=int, choices=range(1, 8))
    listing.add_argument("--theme")
    listing.add_argument("--trigger")
    listing.add_argument("--status", choices=("active", "closed", "abandoned"))
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    participant = commands.add_parser(
        "participant", help="a participant's rights (erasure)"
    ).add_subparsers(dest="participant_command", required=True, metavar="ACTION")
    erase = participant.add_parser(
        "erase", help="erase a participant (crypto-shredding); the history records that it happened"
    )
    erase.add_argument("team_id", type=UUID)
    erase.add_argument("participant_id")
    erase.add_argument("--reason", default=None)
    erase.add_argument("--actor", default="cli")
    erase.add_argument("--json", action="store_true", help="machine-readable output")

    from ltflow.audit.cli import add_parser as add_audit
    from ltflow.projections.cli import add_parser as add_projections
    from ltflow.series.cli import add_parser as add_series
    from ltflow.workflows.notifications_cli import add_parser as add_notifications

    add_projections(commands)
    add_audit(commands)
    add_notifications(commands)
    add_series(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else USAGE
    problem = _sender_actor_problem(args)
    if problem is not None:
        print(f"ltflow: --actor: {problem}", file=sys.stderr)
        return USAGE
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"ltflow: {exc}", file=sys.stderr)
        return USAGE
    quiet = args.command in (
        "demo",
        "team",
        "participant",
    )  # their output is the screen; logs only warn
    configure_logging(settings.log_format, level=logging.WARNING if quiet else logging.INFO)
    try:
        return _dispatch(args, settings)
    except LtflowError as error:
        if getattr(args, "json", False):
            print(json.dumps(error.to_dict()))
        else:
            print(f"ltflow: {error.message} ({error.code})", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        return FAILED


def _sender_actor_problem(args: argparse.Namespace) -> str | None:
    """Why the ``--actor`` of a command that records events may not send (``system`` is the
    timers' actor), or None; the audit's ``--actor`` names a reader and is no sender."""
    if args.command not in ("team", "participant") or not hasattr(args, "actor"):
        return None
    from ltflow.aggregates.actors import actor_problem

    return actor_problem(args.actor)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "demo":
        from ltflow.demo.run import run_demo

        return OK if asyncio.run(run_demo(settings)) else FAILED
    if args.command in ("api", "dev"):
        from ltflow.api.server import serve
        from ltflow.projections.cross_team import MissingViewIdKeyError, view_ids_for

        try:  # before anything starts: 'ltflow api' without the key says so and stops
            view_ids_for(settings, create=args.command == "dev")
        except MissingViewIdKeyError as exc:
            print(f"ltflow: {exc}", file=sys.stderr)
            return USAGE

        if args.command == "dev":
            settings = settings.with_changes(
                encrypt_at_rest=True,
                min_policy_duration=settings.min_policy_duration or DEV_POLICY_FLOOR,
            )
        asyncio.run(serve(settings, args.host, args.port, with_worker=args.command == "dev"))
        return OK
    if args.command == "worker":
        from ltflow.workflows.runtime import run_worker

        asyncio.run(run_worker(settings))
        return OK
    if args.command == "team" and args.team_command == "list":
        return _list_teams(args, settings)
    if args.command == "team" and args.team_command == "repair":
        return asyncio.run(_repair(args, settings))
    if args.command == "team":
        return asyncio.run(_team(args, settings))
    if args.command == "participant":
        from ltflow.privacy.erasure import erase_participant

        summary = asyncio.run(
            erase_participant(
                settings, args.team_id, args.participant_id, actor=args.actor, reason=args.reason
            )
        )
        if args.json:
            print(summary.model_dump_json())
        else:
            print(
                f"Erased {args.participant_id} from team {args.team_id}: their personal fields "
                "are unreadable from now on, and the read models were rebuilt."
            )
        return OK
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args, settings))
    return USAGE


def _list_teams(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

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
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        with open(text[1:], encoding="utf-8") as f:
            text = f.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        from ltflow.aggregates.errors import InvalidEventError

        raise InvalidEventError(f"The body is not valid JSON: {exc.msg}.") from None


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
    # Personal fields are encrypted before they enter Temporal: with the installation's keys.
    keys = key_store_for(settings) if event is not None and type(event).personal else None
    try:
        async with temporal_client(settings) as client:
            ltflow = LtflowClient(
                client, settings.task_queue, keys=keys, workflow_ids=workflow_ids_for(settings)
            )
            if convene is not None:
                summary = await ltflow.open_team(convene, actor=args.actor)
            elif event is not None:
                summary = await ltflow.send(args.team_id, event, actor=args.actor)
            else:
                summary = await ltflow.summary(args.team_id)
    finally:
        if keys is not None:
            keys.close()
    if args.json:
        print(summary.model_dump_json())
    else:
        print(
            f"team {summary.team_id}  case {summary.case_ref}\n"
            f"phase {int(summary.phase)} ({summary.phase_name}), {summary.status.value}, "
            f"version {summary.version}, {summary.active_participants} participants"
        )
    return OK


async def _repair(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from ltflow.workflows.client import LtflowClient
    from ltflow.workflows.naming import workflow_ids_for
    from ltflow.workflows.runtime import temporal_client

    async with temporal_client(settings) as client:
        ltflow = LtflowClient(client, settings.task_queue, workflow_ids=workflow_ids_for(settings))
        result = await ltflow.repair(args.team_id)
    if args.json:
        print(json.dumps(asdict(result), default=str))
    else:
        print(
            f"Restarted the workflow of team {result.team_id} (its last run was "
            f"{result.previous_status.lower()}): the new run {result.run_id} loads the team from "
            "the event store and takes events again."
        )
    return OK


def entry() -> None:
    """The console script. Leaves without interpreter finalization: a Temporal client's runtime
    threads can still be winding down then, and the interpreter aborts on them."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
