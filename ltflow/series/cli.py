"""``ltflow series create | update | pause | resume | delete | backfill | list | show``.

Wire it into the main parser with :func:`add_parser`; each subcommand sets ``handler``, called
as ``args.handler(args, settings)`` and returning the exit code (0 ok, 1 a refusal or failure,
2 a usage error). A body is judged before anything connects: bad input schedules nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from ltflow.aggregates.actors import actor_problem
from ltflow.aggregates.errors import InvalidEventError
from ltflow.config import Settings
from ltflow.series.client import SeriesClient, SeriesInfo, SlotRecord
from ltflow.series.model import parse_series

OK, FAILED, USAGE = 0, 1, 2
_ACTIONS = ("create", "update", "pause", "resume", "delete", "backfill", "list", "show")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``series`` and its subcommands."""
    parser = subparsers.add_parser(
        "series",
        help="Learning Teams convened on a rhythm (Temporal Schedules)",
        description="Series of periodic Learning Teams; see docs/rhythm.md.",
    )
    commands = parser.add_subparsers(dest="series_command", metavar="ACTION", required=True)
    create = commands.add_parser("create", help="create a series from a JSON body")
    create.add_argument("body", help="JSON text, @file, or - for standard input")
    update = commands.add_parser("update", help="replace a series' definition (JSON body)")
    update.add_argument("series_id")
    update.add_argument("body", help="JSON text, @file, or - for standard input")
    pause = commands.add_parser("pause", help="stop convening until resumed, with a note")
    pause.add_argument("series_id")
    pause.add_argument("--note", required=True, help="why (kept with the series)")
    resume = commands.add_parser("resume", help="convene again from the next slot")
    resume.add_argument("series_id")
    resume.add_argument("--note", default=None)
    delete = commands.add_parser("delete", help="stop a series (its teams stay)")
    delete.add_argument("series_id")
    backfill = commands.add_parser("backfill", help="convene the slots between two times")
    backfill.add_argument("series_id")
    backfill.add_argument("--start", type=_moment, required=True, help="ISO 8601, with offset")
    backfill.add_argument("--end", type=_moment, required=True, help="ISO 8601, with offset")
    commands.add_parser("list", help="every series with its next runs")
    show = commands.add_parser("show", help="one series: definition, next runs, recent slots")
    show.add_argument("series_id")
    for name, sub in commands.choices.items():
        if name in _ACTIONS:
            sub.add_argument("--json", action="store_true", help="machine-readable output")
            sub.set_defaults(handler=series_command)
    for sub in (create, update):
        sub.add_argument("--actor", default="cli", help="who changes it (recorded with it)")


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs an offset (such as +01:00 or Z)")
    return moment


def _body(text: str) -> Any:
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        with open(text[1:], encoding="utf-8") as f:
            text = f.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEventError(f"The body is not valid JSON: {exc.msg}.") from None


def series_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run one ``ltflow series`` action."""
    actor = getattr(args, "actor", None)
    if actor is not None and actor_problem(actor):
        print(f"ltflow: --actor: {actor_problem(actor)}", file=sys.stderr)
        return USAGE
    body = None
    if args.series_command in ("create", "update"):
        # Judged here, before anything connects.
        raw = _body(args.body)
        if args.series_command == "update" and isinstance(raw, dict):
            raw = {**raw, "series_id": args.series_id}
        body = parse_series(raw, floor=settings.policy_floor, now=datetime.now(UTC))
        body = body.model_copy(update={"changed_by": actor})
    return asyncio.run(_run(args, settings, body))


async def _run(args: argparse.Namespace, settings: Settings, body: Any) -> int:
    from ltflow.workflows.runtime import temporal_client

    async with temporal_client(settings) as client:
        series = SeriesClient(client, settings.task_queue)
        action = args.series_command
        if action == "create":
            info, created = await series.create(body)
            return _print(args, [info], "created" if created else "unchanged (it exists)")
        if action == "update":
            return _print(args, [await series.update(body)], "updated")
        if action == "pause":
            return _print(args, [await series.pause(args.series_id, args.note)], "paused")
        if action == "resume":
            return _print(args, [await series.resume(args.series_id, args.note)], "resumed")
        if action == "delete":
            await series.delete(args.series_id)
            print(json.dumps({"deleted": args.series_id}) if args.json else "deleted")
            return OK
        if action == "backfill":
            info = await series.backfill(args.series_id, args.start, args.end)
            return _print(args, [info], "backfill requested")
        if action == "list":
            return _print(args, await series.list(), None)
        return _print(args, [await series.show(args.series_id)], None)


def _print(args: argparse.Namespace, infos: list[SeriesInfo], what: str | None) -> int:
    if args.json:
        dumped = [json.loads(i.model_dump_json()) for i in infos]
        single = args.series_command not in ("list",)
        print(json.dumps(dumped[0] if single else dumped))
        return OK
    if what:
        print(f"series {infos[0].series.series_id}: {what}")
    for info in infos:
        print(_line(info))
        if args.series_command == "show":
            for slot in info.recent:
                print(f"    {_slot(slot)}")
    if not infos:
        print("No series.")
    return OK


def _slot(slot: SlotRecord) -> str:
    result = slot.result
    if result is None:
        return f"{slot.scheduled_at.isoformat()}  running (or failed: see its workflow)"
    if result.blocked_by is not None:
        held = result.blocked_by
        return (
            f"{slot.scheduled_at.isoformat()}  skipped: {held.case_ref} is still in phase "
            f"{held.phase}"
        )
    return f"{slot.scheduled_at.isoformat()}  {result.outcome}: team {result.team_id}"


def _line(info: SeriesInfo) -> str:
    s = info.series
    state = f"paused ({info.note})" if info.paused else "running"
    runs = ", ".join(r.isoformat() for r in info.next_runs[:3]) or "none"
    skipped = sum(1 for r in info.recent if r.result and r.result.outcome == "skipped")
    return (
        f"{s.series_id}  {s.template.title}  [{s.rhythm.kind}, {s.time_zone}]  {state}\n"
        f"  next: {runs}\n"
        f"  recent slots: {len(info.recent)} ({skipped} skipped)"
    )
