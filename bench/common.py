"""What every benchmark's command line shares: ``--smoke``, quiet logs, print the report."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from ltflow.logs import configure_logging


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
