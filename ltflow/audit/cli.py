"""``ltflow audit history | state | verify | export | anchor | log``: the auditor's command line.

Wire it into the main parser with :func:`add_parser`; each subcommand sets ``handler``, called as
``args.handler(args, settings)`` and returning the exit code: 0 ok, 1 a failed check, 2 a usage
error. A case is named by its team id or by its ``case_ref``. Every read is recorded in the
access log under ``--actor`` (default: the operating-system user) and ``--on-behalf-of``.

``ltflow audit seal`` is the deprecated name of ``anchor`` (issue 13: one meaning per word): it
still works, for the cron jobs and scripts that call it, but is left out of ``--help`` and says
on standard error that it is deprecated.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from ltflow.audit import render
from ltflow.audit.access_log import Accessor
from ltflow.audit.export import atomic_output
from ltflow.audit.findings import Finding
from ltflow.audit.mark import AuditStoreLost
from ltflow.audit.service import Audit
from ltflow.audit.verify import AnchorRef, VerifyReport
from ltflow.config import Settings
from ltflow.eventstore.application import team_id_for

OK, FAILED, USAGE = 0, 1, 2


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit`` with its subcommands to the main parser."""
    parser = subparsers.add_parser(
        "audit",
        help="replay, verify and export a case's history (auditors)",
        description="Replay a case's complete history, check it has not been altered, export it.",
    )
    commands = parser.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    who = _who()
    history = commands.add_parser("history", parents=[who], help="every stored event, in order")
    history.add_argument("team", type=team_text, help="team id or case_ref")
    history.set_defaults(handler=history_command)

    state = commands.add_parser("state", parents=[who], help="the case as it stood then")
    state.add_argument("team", type=team_text, help="team id or case_ref")
    when = state.add_mutually_exclusive_group(required=True)
    when.add_argument(
        "--at", type=moment, help="ISO 8601 time with its zone (2026-12-14T09:00+01:00, or Z)"
    )
    when.add_argument("--version", type=int, help="fold events 1..N")
    state.add_argument(
        "--by",
        choices=("recorded", "occurred"),
        default="recorded",
        help="with --at: recorded time (what ltflow held then; default) or business time",
    )
    state.set_defaults(handler=state_command)
    _verify_parser(commands, who)
    export = commands.add_parser("export", parents=[who], help="a self-contained JSON Lines file")
    export.add_argument("team", type=team_text, help="team id or case_ref")
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        help="file to write (written whole or not at all); stdout when not given",
    )
    export.set_defaults(handler=export_command)
    anchor = commands.add_parser(
        "anchor", help="anchor newly stored events and print the latest anchor"
    )
    anchor.add_argument("--json", action="store_true", help="machine-readable output")
    anchor.set_defaults(handler=anchor_command)
    # No ``help=``: argparse then leaves the old name out of the command list (with
    # ``help=SUPPRESS`` Python 3.11 would print "==SUPPRESS==" there).
    deprecated = commands.add_parser(
        "seal", description="Deprecated: use `ltflow audit anchor` (same options, same output)."
    )
    deprecated.add_argument("--json", action="store_true", help="machine-readable output")
    deprecated.set_defaults(handler=deprecated_seal_command)
    log = commands.add_parser("log", parents=[who], help="the access log (reading it is logged)")
    log.add_argument("team", nargs="?", type=team_text, help="only this case's entries")
    log.add_argument("--limit", type=int, default=50, help="the last N entries")
    log.set_defaults(handler=log_command)
    adopt = commands.add_parser(
        "adopt",
        parents=[who],
        help="accept rows stored before event MACs existed (once, explicitly; logged)",
    )
    adopt.add_argument(
        "--before", type=int, required=True, help="adopt rows below this position (notification id)"
    )
    adopt.set_defaults(handler=adopt_command)


def _verify_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], who: argparse.ArgumentParser
) -> None:
    verify = commands.add_parser(
        "verify", parents=[who], help="check the history has not been altered"
    )
    what = verify.add_mutually_exclusive_group(required=True)
    what.add_argument("team", nargs="?", type=team_text, help="team id or case_ref")
    what.add_argument("--all", action="store_true", help="every team, anchor and the access log")
    what.add_argument("--file", type=Path, help="an export file, checked offline")
    verify.add_argument(
        "--anchor", type=anchor_ref, help="an anchor recorded elsewhere (seq:digest) to confirm"
    )
    verify.add_argument(
        "--temporal", action="store_true", help="also replay the case's Temporal workflow history"
    )
    verify.add_argument(
        "--no-read-model", action="store_true", help="skip the team-detail read-model cross-check"
    )
    verify.set_defaults(handler=verify_command)


def _who() -> argparse.ArgumentParser:
    who = argparse.ArgumentParser(add_help=False)
    who.add_argument("--actor", default=None, help="who reads (logged); default: the OS user")
    who.add_argument("--on-behalf-of", default=None, help="for whom (NEN 7513)")
    who.add_argument("--reason", default=None, help="why (recorded in the access log)")
    who.add_argument("--json", action="store_true", help="machine-readable output")
    return who


# --- argument types ---------------------------------------------------------------------------


def team_text(text: str) -> str:
    """A team as typed (its id or case_ref); :func:`team_ref` resolves it, and an unknown team
    is then named as the user named it."""
    if not text.strip():
        raise argparse.ArgumentTypeError("name a team by its id or case_ref")
    return text.strip()


def team_ref(text: str | UUID | None) -> UUID:
    """A team id, or the team id of the ``case_ref`` it was opened for."""
    if isinstance(text, UUID):
        return text
    if text is None:
        raise argparse.ArgumentTypeError("name a team by its id or case_ref")
    try:
        return UUID(text)
    except ValueError:
        return team_id_for(text.strip())


def moment(text: str) -> datetime:
    """An ISO 8601 time with its zone. A time without one is refused, as everywhere in ltflow
    (an event's ``occurred_at``, HTTP queries): a naive time means a different moment in every
    zone it is read in."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no time zone: add one, e.g. {text}Z for UTC or {text}+01:00"
        )
    return parsed


def anchor_ref(text: str) -> AnchorRef:
    try:
        return AnchorRef.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --- handlers ---------------------------------------------------------------------------------


def history_command(args: argparse.Namespace, settings: Settings) -> int:
    with _audit(settings) as audit:
        facts = audit.history(team_ref(args.team), _accessor(args))
    if args.json:
        _print_json([f.model_dump(mode="json") for f in facts])
    else:
        print(render.history(facts))
    return OK


def state_command(args: argparse.Namespace, settings: Settings) -> int:
    with _audit(settings) as audit:
        answer = audit.state(
            team_ref(args.team), _accessor(args), version=args.version, at=args.at, by=args.by
        )
    print(answer.model_dump_json(indent=2) if args.json else render.state(answer))
    return OK


def verify_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.file is not None:
        with args.file.open(encoding="utf-8") as lines:
            report = Audit.verify_file(lines)
    else:
        with _audit(settings) as audit:
            report = _verify(audit, args, settings)
    print(report.model_dump_json(indent=2) if args.json else render.verification(report))
    return OK if report.ok else FAILED


def _verify(audit: Audit, args: argparse.Namespace, settings: Settings) -> VerifyReport:
    options: dict[str, Any] = {"expected": args.anchor, "read_model": not args.no_read_model}
    if args.team is None:
        return audit.verify(None, _accessor(args), expected=args.anchor)
    team_id = team_ref(args.team)
    first_event_decodes(audit, team_id)
    if args.temporal:
        replay = asyncio.run(_replay(settings, team_id))
        return audit.verify(team_id, _accessor(args), extra=[replay], **options)
    return audit.verify(team_id, _accessor(args), **options)


async def _replay(settings: Settings, team_id: UUID) -> tuple[str, list[Finding]]:
    from temporalio.client import Client

    from ltflow.audit.crosschecks import check_replay
    from ltflow.workflows.runtime import tls_config

    address = settings.temporal_address or f"127.0.0.1:{settings.embedded_temporal_port}"
    try:
        client = await Client.connect(
            address,
            namespace=settings.temporal_namespace,
            tls=tls_config(settings),
            api_key=settings.temporal_api_key,
        )
    except RuntimeError as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        note = f"No Temporal reachable at {address}: the replay check did not run ({reason})."
        return "workflow replay", [Finding(kind="skipped", message=note, failure=False)]
    return "workflow replay", await check_replay(client, team_id, settings)


def export_command(args: argparse.Namespace, settings: Settings) -> int:
    team_id = team_ref(args.team)
    with _audit(settings) as audit:
        first_event_decodes(audit, team_id)
        if args.output is None:
            audit.export(team_id, _accessor(args), sys.stdout)
            return OK
        with atomic_output(args.output) as out:
            summary = audit.export(team_id, _accessor(args), out)
    if args.json:
        _print_json({"file": str(args.output), **summary.__dict__})
    else:
        print(
            f"wrote {args.output}: {summary.events} events, {summary.lines} lines, "
            f"head {summary.head}\ncheck it with: ltflow audit verify --file {args.output}"
        )
    return OK


def anchor_command(args: argparse.Namespace, settings: Settings) -> int:
    with _audit(settings) as audit:
        try:
            result = audit.anchor()
        except AuditStoreLost as lost:  # cron's safety net must fail loudly, not re-anchor
            print(f"FAILED: {lost.message}", file=sys.stderr)
            return FAILED
        latest = result.latest
        if latest is None:
            with audit.store.read() as tx:
                from ltflow.audit.ledger import latest_anchor

                latest = latest_anchor(tx)
    ref = latest.ref if latest else None
    if args.json:
        _print_json({"events": result.events, "teams": len(result.teams), "anchor": ref})
    else:
        print(f"anchored {result.events} events of {len(result.teams)} teams; latest anchor {ref}")
    return OK


def deprecated_seal_command(args: argparse.Namespace, settings: Settings) -> int:
    """``ltflow audit seal``: :func:`anchor_command` under its old name. The notice goes to
    standard error, so a script reading standard output (``--json``) sees what ``anchor`` prints."""
    print("ltflow audit seal is deprecated: use ltflow audit anchor", file=sys.stderr)
    return anchor_command(args, settings)


def log_command(args: argparse.Namespace, settings: Settings) -> int:
    with _audit(settings) as audit:
        team_id = None if args.team is None else team_ref(args.team)
        entries = audit.access_log(_accessor(args), team_id, args.limit)
    if args.json:
        _print_json([e.model_dump(mode="json") for e in entries])
    else:
        print(render.access_entries(entries))
    return OK


def adopt_command(args: argparse.Namespace, settings: Settings) -> int:
    with _audit(settings) as audit:
        count = audit.adopt(_accessor(args), args.before)
    if args.json:
        _print_json({"adopted": count, "before": args.before})
    else:
        print(f"adopted {count} rows stored below position {args.before} without a MAC")
    return OK


# --- helpers ----------------------------------------------------------------------------------


def first_event_decodes(audit: Audit, team_id: UUID) -> None:
    """Decode the team's first stored event, so that a store this process has not the key to
    (encrypted at rest by ``ltflow dev``) fails with the sentence naming that key, before a
    verification skips what it cannot read or an export writes its events as null. A team
    without events, or a tampered row, is the verification's to report."""
    from eventsourcing.persistence import MapperDeserialisationError, StoredEvent

    for row in audit.source.rows([str(team_id)]):
        _, version, topic, state = row
        stored = StoredEvent(
            originator_id=team_id, originator_version=version, topic=topic, state=state
        )
        try:
            audit.app.mapper.to_domain_event(stored)
        except MapperDeserialisationError:
            if audit.macs is None or not audit.macs.forged([row]):
                raise  # written by ltflow, yet unreadable here: a key or setting is missing
        return


@contextmanager
def _audit(settings: Settings) -> Iterator[Audit]:
    audit = Audit.from_settings(settings)
    try:
        yield audit
    finally:
        audit.close()


def _accessor(args: argparse.Namespace) -> Accessor:
    actor = args.actor or _os_user()
    return Accessor(actor=actor, on_behalf_of=args.on_behalf_of, channel="cli", reason=args.reason)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))
