"""``ltflow projections run | rebuild | status | retry``: the read models from the command line.

Wire it into the main parser with :func:`add_parser`; each subcommand sets ``handler``, called as
``args.handler(args, settings)`` and returning the exit code (0 ok, 1 a failed check or a
failure, 2 a usage error).
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import PersistenceError

from ltflow.config import Settings
from ltflow.projections.base import ProjectionError
from ltflow.projections.poison import Poison
from ltflow.projections.quarantine import Quarantined
from ltflow.projections.registry import PROJECTION_NAMES
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.service import ProjectionService
from ltflow.projections.status import ProjectionStatus, projection_status
from ltflow.projections.store import ViewStore

OK, FAILED, USAGE = 0, 1, 2
_FAILURES = (PersistenceError, sqlite3.Error, OSError, ProjectionError)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``projections`` with its ``run``, ``rebuild``, ``status`` and ``retry`` subcommands."""
    parser = subparsers.add_parser(
        "projections",
        help="keep, rebuild or inspect the read models",
        description="The read models every frontend reads, kept exactly once from the event store.",
    )
    commands = parser.add_subparsers(dest="projections_command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="keep the read models up to date until stopped")
    run.add_argument("--once", action="store_true", help="catch up with the log, then exit")
    run.add_argument(
        "--batch-size",
        type=_positive_int,
        default=20_000,
        metavar="N",
        help="notifications per transaction (default 20,000)",
    )
    run.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how often to look for new events where they cannot be pushed (SQLite)",
    )
    run.set_defaults(handler=run_command)
    rebuild = commands.add_parser(
        "rebuild", help="rebuild read models (only their own tables; the event store is read only)"
    )
    rebuild.add_argument(
        "names", nargs="*", metavar="PROJECTION", help=f"which ones: {', '.join(PROJECTION_NAMES)}"
    )
    rebuild.add_argument("--all", action="store_true", help="rebuild every read model")
    rebuild.set_defaults(handler=rebuild_command)
    status = commands.add_parser("status", help="how many events each projection is behind")
    status.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a projection is behind, was built by other code, or holds a team",
    )
    status.set_defaults(handler=status_command)
    for command in (run, rebuild, status, _add_retry(commands)):
        command.add_argument("--json", action="store_true", help="machine-readable output")


def _add_retry(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    retry = commands.add_parser(
        "retry",
        help="fold quarantined teams again from their first event (after a fix)",
        description="Teams whose views stopped before an event they could not fold are folded "
        "again from their first event; exit 1 when one fails again.",
    )
    retry.add_argument(
        "team_ids", nargs="*", type=uuid.UUID, metavar="TEAM_ID", help="which ones (default: all)"
    )
    retry.set_defaults(handler=retry_command)
    return retry


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """Catch up, then follow the log (push on PostgreSQL, polling on SQLite) until a signal."""
    try:
        with _runner(settings, batch_size=args.batch_size) as runner:
            reset = runner.prepare()
            if reset:
                _say(
                    args,
                    f"building from the log (new or changed code): {', '.join(reset)}",
                    event="rebuilding",
                    projections=reset,
                )
            applied = runner.catch_up()
            _say(
                args,
                f"caught up: {applied} events applied, at position {runner.position}",
                event="caught_up",
                applied=applied,
                position=runner.position,
            )
            if args.once:
                return OK
            service = ProjectionService(
                runner,
                poll_interval=args.poll_interval,
                on_progress=lambda n, p: _progress(args, n, p),
            )
            how = (
                "push (PostgreSQL LISTEN/NOTIFY)"
                if service.push
                else (f"polling every {args.poll_interval:g}s")
            )
            _say(
                args,
                f"following the event log: {how}; stop with Ctrl-C",
                event="following",
                mode="push" if service.push else "poll",
            )
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: service.stop(timeout=0))
            service.run()
            _say(
                args,
                f"stopped at position {runner.position}",
                event="stopped",
                position=runner.position,
            )
    except _FAILURES as exc:
        return _fail(args, exc)
    return OK


def rebuild_command(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild the named read models (or ``--all``) and catch up."""
    unknown = sorted(set(args.names) - set(PROJECTION_NAMES))
    if unknown or bool(args.names) == bool(args.all):
        problem = (
            f"unknown projection(s): {', '.join(unknown)}"
            if unknown
            else "name the projections to rebuild, or pass --all (not both)"
        )
        print(
            f"ltflow projections rebuild: {problem}; known: {', '.join(PROJECTION_NAMES)}.",
            file=sys.stderr,
        )
        return USAGE
    try:
        with _runner(settings) as runner:
            rebuilt = runner.rebuild(args.names)
            _say(
                args,
                f"rebuilt {', '.join(rebuilt)}; at position {runner.position}",
                event="rebuilt",
                projections=rebuilt,
                position=runner.position,
            )
    except _FAILURES as exc:
        return _fail(args, exc)
    return OK


def status_command(args: argparse.Namespace, settings: Settings) -> int:
    """Show each projection's position, exactly how many events it is behind, and the
    quarantined teams."""
    try:
        with _runner(settings) as runner:
            report = projection_status(runner)
            held = runner.quarantined()
    except _FAILURES as exc:
        return _fail(args, exc)
    if args.json:
        print(
            json.dumps(
                {
                    "max_notification_id": report[0].max_notification_id if report else 0,
                    "projections": [s.model_dump() for s in report],
                    "quarantined": [q.model_dump(mode="json") for q in held],
                }
            )
        )
    else:
        _print_table(report)
        _print_quarantined(held)
    lagging = any(s.behind or s.stale for s in report) or bool(held)
    return FAILED if args.check and lagging else OK


def retry_command(args: argparse.Namespace, settings: Settings) -> int:
    """Fold the quarantined teams named (or all) again from their first event."""
    try:
        with _runner(settings) as runner:
            result = runner.retry(args.team_ids)
    except _FAILURES as exc:
        return _fail(args, exc)
    if not result:
        _say(args, "no such team is quarantined; nothing to do", event="nothing_held")
    for team_id, poison in result.items():
        if poison is None:
            _say(
                args,
                f"team {team_id}: folded again, its views are current",
                event="released",
                team_id=str(team_id),
            )
        else:
            _say(
                args,
                f"team {team_id}: still quarantined: {_poison_text(poison)}",
                event="held",
                team_id=str(team_id),
                notification_id=poison.notification_id,
                error_class=poison.error_class,
                error=poison.error,
            )
    return FAILED if any(p is not None for p in result.values()) else OK


@contextmanager
def _runner(settings: Settings, *, batch_size: int = 20_000) -> Iterator[ProjectionRunner]:
    from ltflow.eventstore.application import LearningTeams

    app = LearningTeams.from_settings(settings)
    store = ViewStore.from_settings(settings)
    try:
        yield ProjectionRunner(app, store, batch_size=batch_size)
    finally:
        store.close()
        app.close()


def _print_table(report: list[ProjectionStatus]) -> None:
    print(f"{'PROJECTION':<18} {'POSITION':>9} {'BEHIND':>8}  STATE")
    for s in report:
        state = _state(s)
        print(f"{s.name:<18} {s.position:>9} {s.behind:>8}  {state}")
    if report:
        print(f"event log: last notification id {report[0].max_notification_id}")


def _print_quarantined(held: list[Quarantined]) -> None:
    if not held:
        return
    print(
        f"quarantined: {len(held)} team(s), their views stop before an event they cannot fold "
        "(fix, then `ltflow projections retry`)"
    )
    for q in held:
        print(
            f"  {q.team_id}  {_poison_text(q)}; {q.skipped} later event(s) skipped, since "
            f"{q.failed_at:%Y-%m-%d %H:%M:%S}"
        )


def _poison_text(p: Poison | Quarantined) -> str:
    event = (
        f"{p.event_type} v{p.version} (notification {p.notification_id})"
        if p.notification_id is not None
        else f"its fold at v{p.version}"
    )
    return f"{p.projection} failed on {event}: {p.error_class}: {p.error} [{p.location}]"


def _state(status: ProjectionStatus) -> str:
    if status.version is None:
        return "not built yet"
    if status.stale:
        return "stale: built by other code, `run` rebuilds it"
    return "up to date" if status.behind == 0 else "catching up"


def _progress(args: argparse.Namespace, applied: int, position: int) -> None:
    _say(
        args,
        f"+{applied} events, at position {position}",
        event="applied",
        applied=applied,
        position=position,
    )


def _say(args: argparse.Namespace, text: str, **fields: Any) -> None:
    print(json.dumps(fields) if args.json else f"projections: {text}", flush=True)


def _fail(args: argparse.Namespace, exc: BaseException) -> int:
    message = f"{type(exc).__name__}: {exc}"
    if args.json:
        print(json.dumps({"event": "failed", "error": message}), flush=True)
    print(f"ltflow projections: {message}", file=sys.stderr)
    return FAILED


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
