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
from contextlib import suppress
from pathlib import Path
from typing import Any, cast

from ltflow import __version__, team_cli
from ltflow.aggregates.bounds import DEV_POLICY_FLOOR
from ltflow.aggregates.errors import LtflowError
from ltflow.config import Settings
from ltflow.logs import configure_logging
from ltflow.team_cli import UsageError

OK, FAILED, USAGE = 0, 1, 2


class HelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's default (when it has one worth saying)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not text
            or "%(default)" in text
            or not action.option_strings
            or default in (None, False, argparse.SUPPRESS)
        ):
            return action.help
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """ltflow's parsers: every subcommand's help shows defaults (subparsers inherit the class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


BODY_HELP = "the event as JSON text, @file to read it from a file, or - for standard input"
TEAM_HELP = "the team: its id, or the case_ref it was opened for"
ACTOR_HELP = "who records this (stored as the event's actor); default: the OS user"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ltflow", description="Run Learning Teams.")
    parser.add_argument("--version", action="version", version=f"ltflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser(
        "demo", help="run one realistic case through all seven phases on the embedded stack"
    )
    commands.add_parser("worker", help="run a worker (embedded dev server when no address is set)")
    for name, text in (
        ("api", "run the HTTP API (and the projections) against the running Temporal"),
        ("dev", "the whole stack on this machine: Temporal dev server, worker, projections, API"),
    ):
        server = commands.add_parser(name, help=text, description=text)
        server.add_argument("--host", default="127.0.0.1", help="address the HTTP API listens on")
        server.add_argument("--port", type=int, default=8000, help="port of the HTTP API")

    team = commands.add_parser("team", help="open, send to and show teams").add_subparsers(
        dest="team_command", required=True, metavar="ACTION"
    )
    open_ = team.add_parser("open", help="open a team from a team.convened JSON body")
    open_.add_argument("body", help=BODY_HELP)
    send = team.add_parser("send", help="send one phase event (JSON) to a team")
    send.add_argument("team", help=TEAM_HELP)
    send.add_argument("body", help=BODY_HELP)
    show = team.add_parser("show", help="show a team's summary")
    show.add_argument("team", help=TEAM_HELP)
    next_ = team.add_parser(
        "next", help="the events a team accepts now, and what each rule still needs"
    )
    next_.add_argument("team", help=TEAM_HELP)
    for sub in (open_, send, show, next_):
        if sub is not show and sub is not next_:
            sub.add_argument("--actor", default=None, help=ACTOR_HELP)
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    repair = team.add_parser(
        "repair",
        help="restart a team whose workflow failed, was terminated or timed out, from the store",
    )
    repair.add_argument("team", help=TEAM_HELP)
    repair.add_argument("--json", action="store_true", help="machine-readable output")
    listing = team.add_parser("list", help="list teams from the read models")
    listing.add_argument("--phase", type=int, choices=range(1, 8), help="only teams in this phase")
    listing.add_argument("--theme", help="only teams with this theme")
    listing.add_argument("--trigger", help="only teams opened for this trigger")
    listing.add_argument(
        "--status", choices=("active", "closed", "abandoned"), help="only teams with this status"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    participant = commands.add_parser(
        "participant", help="a participant's rights (erasure)"
    ).add_subparsers(dest="participant_command", required=True, metavar="ACTION")
    erase = participant.add_parser(
        "erase", help="erase a participant (crypto-shredding); the history records that it happened"
    )
    erase.add_argument("team", help=TEAM_HELP)
    erase.add_argument("participant_id", help="the participant's id in that team")
    erase.add_argument("--reason", default=None, help="why (stored with the erasure)")
    erase.add_argument("--actor", default=None, help=ACTOR_HELP)
    erase.add_argument("--json", action="store_true", help="machine-readable output")

    from ltflow.audit.cli import add_parser as add_audit
    from ltflow.projections.cli import add_parser as add_projections
    from ltflow.series.cli import add_parser as add_series
    from ltflow.workflows.notifications_cli import add_parser as add_notifications

    plain = cast("argparse._SubParsersAction[argparse.ArgumentParser]", commands)
    add_projections(plain)
    add_audit(plain)
    add_notifications(plain)
    add_series(plain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else USAGE
    if hasattr(args, "actor") and args.actor is None:
        args.actor = default_actor()
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
    except UsageError as exc:
        print(f"ltflow: {exc}", file=sys.stderr)
        return USAGE
    except LtflowError as error:
        _report(args, _naming_what_was_typed(error, args))
        return FAILED
    except Exception as exc:
        missing = undecodable(exc, settings)
        if missing is None:
            raise
        _report(args, missing)
        return FAILED
    except KeyboardInterrupt:
        return FAILED


def undecodable(exc: BaseException, settings: Settings) -> LtflowError | None:
    """The sentence for stored events this command cannot decode: which key or setting is
    missing (None when ``exc`` is something else)."""
    from cryptography.exceptions import InvalidTag
    from eventsourcing.persistence import MapperDeserialisationError

    text = str(exc) if isinstance(exc, ValueError) else ""
    unknown_key = "encrypted with an unknown key" in text
    plain = "is not encrypted by ltflow's cipher" in text
    if not (isinstance(exc, MapperDeserialisationError | InvalidTag) or unknown_key or plain):
        return None
    where = settings.data_dir
    if plain:
        message = (
            f"The stored events in {where} were written without encryption at rest, and this "
            "command runs with it: unset LTFLOW_ENCRYPT_AT_REST and LTFLOW_EVENT_KEYS for them."
        )
    elif not settings.encrypt_at_rest:
        message = (
            f"The stored events in {where} do not decode: they were written encrypted at rest "
            "and this command runs without encryption; set LTFLOW_ENCRYPT_AT_REST=1 (key file "
            f"{settings.event_key_file}) or LTFLOW_EVENT_KEYS to the keys that wrote them."
        )
    elif settings.event_keys:
        message = (
            f"The stored events in {where} do not decode with the keys in LTFLOW_EVENT_KEYS: "
            "set it to the keys that wrote them (current first)."
        )
    else:
        message = (
            f"The stored events in {where} do not decode with the key file "
            f"{settings.event_key_file}: set LTFLOW_EVENT_KEYS to the keys that wrote them."
        )
    return UndecodableError(message, data_dir=str(where))


class UndecodableError(LtflowError):
    """Stored events this process has not the key or setting to decode."""

    code = "undecodable"


def default_actor() -> str:
    """Every command's ``--actor`` when none is given: the operating-system user (``cli``
    when it has none)."""
    import getpass

    try:
        return getpass.getuser() or "cli"
    except (KeyError, OSError):
        return "cli"


def _report(args: argparse.Namespace, error: LtflowError) -> None:
    if getattr(args, "json", False):
        print(json.dumps(error.to_dict()))
        return
    print(f"ltflow: {error.message} ({error.code})", file=sys.stderr)
    problems = error.details.get("problems")
    if isinstance(problems, list) and len(problems) > 1:  # every one, as HTTP lists them
        for problem in problems:
            if isinstance(problem, dict):
                print(f"  {problem.get('field')}: {problem.get('problem')}", file=sys.stderr)


def _naming_what_was_typed(error: LtflowError, args: argparse.Namespace) -> LtflowError:
    """An unknown team named as the user named it, not by an id they never typed."""
    from ltflow.aggregates.errors import TeamNotFoundError

    typed = getattr(args, "team", None)
    if not isinstance(error, TeamNotFoundError) or not isinstance(typed, str):
        return error
    return TeamNotFoundError(
        f"No Learning Team is known as {typed!r} (neither a team id nor a case_ref of one).",
        team=typed,
    )


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
    if args.command == "dev":
        asyncio.run(_dev(settings, args.host, args.port))
        return OK
    if args.command == "api":
        from ltflow.api.server import serve
        from ltflow.projections.cross_team import MissingViewIdKeyError, view_ids_for

        try:  # before anything starts: 'ltflow api' without the key says so and stops
            view_ids_for(settings, create=False)
        except MissingViewIdKeyError as exc:
            print(f"ltflow: {exc}", file=sys.stderr)
            return USAGE

        asyncio.run(serve(settings, args.host, args.port))
        return OK
    if args.command == "worker":
        from ltflow.workflows.runtime import run_worker

        asyncio.run(run_worker(settings))
        return OK
    if args.command in ("team", "participant"):
        return team_cli.dispatch(args, settings)
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args, settings))
    return USAGE


async def _dev(settings: Settings, host: str, port: int) -> None:
    """``ltflow dev``: what it chooses (encryption at rest, the development policy floor, the
    embedded server's port, the token) is recorded in the data dir, so every other command on
    that data dir reads the same (``ltflow.config.recorded_settings``)."""
    from ltflow.api.server import serve
    from ltflow.config import write_stack_record

    settings = settings.with_changes(
        encrypt_at_rest=True,
        min_policy_duration=settings.min_policy_duration or DEV_POLICY_FLOOR,
    )
    tokens: dict[str, Any] | None = None
    if not settings.api_tokens:
        token, path = dev_token(settings)
        tokens = {token: {"actor": "dev", "scopes": sorted(_all_scopes())}}
        print(
            f"No LTFLOW_API_TOKENS set: use 'Authorization: Bearer {token}' (all scopes; "
            f"kept in {path} across restarts)."
        )
    temporal = settings.temporal_address or f"127.0.0.1:{settings.embedded_temporal_port}"
    write_stack_record(settings, "ltflow dev", temporal=temporal, api=f"http://{host}:{port}")
    await serve(settings, host, port, tokens=tokens, with_worker=True)


def _all_scopes() -> frozenset[str]:
    from ltflow.api.auth import SCOPES

    return SCOPES


def dev_token(settings: Settings) -> tuple[str, Path]:
    """The data dir's development token (``dev.token``, mode 0600): made once, kept across
    restarts, so a client configured with it keeps working."""
    import secrets

    path = settings.data_dir / "dev.token"
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        token = ""
    if token:
        return token, path
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token, path


def entry() -> None:
    """The console script. Leaves without interpreter finalization: a Temporal client's runtime
    threads can still be winding down then, and the interpreter aborts on them. A reader that
    stops early (``ltflow audit export | head``) ends the output quietly, as ``cat`` does."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the flush at exit must not fail again
        code = FAILED
    with suppress(BrokenPipeError):
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
