"""``ltflow notifications undelivered | retry``: what the notification port could not deliver.

Wire it into the main parser with :func:`add_parser`; each subcommand sets ``handler``, called as
``args.handler(args, settings)`` and returning the exit code (0 ok, 1 something still failing).
"""

from __future__ import annotations

import argparse
import json

from ltflow.config import Settings
from ltflow.workflows.notifications import notifier_for
from ltflow.workflows.undelivered import UndeliveredEntry, UndeliveredLog, retry_pending

OK, FAILED = 0, 1


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``notifications`` with its ``undelivered`` and ``retry`` subcommands."""
    parser = subparsers.add_parser(
        "notifications",
        help="notifications every attempt failed to deliver",
        description="Reminders and escalations the notification port could not deliver.",
    )
    commands = parser.add_subparsers(dest="notifications_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("undelivered", help="list what is waiting to be delivered")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=undelivered_command)
    retry = commands.add_parser(
        "retry", help="send every undelivered notification again (log and webhook as configured)"
    )
    retry.set_defaults(handler=retry_command)


def undelivered_command(args: argparse.Namespace, settings: Settings) -> int:
    """Print the undelivered notifications, oldest first."""
    undelivered = UndeliveredLog.from_settings(settings)
    try:
        pending = undelivered.pending()
    finally:
        undelivered.close()
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in pending]))
    elif not pending:
        print("No undelivered notifications.")
    else:
        for entry in pending:
            print(_line(entry))
    return OK


def retry_command(args: argparse.Namespace, settings: Settings) -> int:
    """Send every undelivered notification again; 1 when some still fail."""
    undelivered = UndeliveredLog.from_settings(settings)
    try:
        delivered, failing = retry_pending(
            undelivered, notifier_for(settings.webhook_url, settings.webhooks)
        )
    finally:
        undelivered.close()
    print(f"Delivered {delivered}; still undelivered {failing}.")
    return FAILED if failing else OK


def _line(entry: UndeliveredEntry) -> str:
    note = entry.notification
    return (
        f"{entry.recorded_at:%Y-%m-%d %H:%M:%S}  team {note.team_id}  {note.type}  "
        f"for {note.recipient}  ({entry.error})"
    )
