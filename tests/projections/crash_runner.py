"""A projection runner in its own process that stops inside a batch transaction.

``python -m tests.projections.crash_runner '<json>'``: it writes ``pause_after`` batches, then
writes part of the next one, prints ``inside-batch`` and sleeps, so that the test can kill it
(SIGKILL) with the transaction open. With ``"poison": true`` its ``participant.invited`` step is
the broken one of :func:`tests.projections.helpers.broken_invitation`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.projections.registry import PROJECTIONS
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import Tx, ViewStore
from tests.projections.helpers import break_invitations

MARKER = "inside-batch"


def main(spec: dict[str, Any]) -> None:
    settings = Settings(
        data_dir=Path(spec["data_dir"]),
        event_store=spec["event_store"],
        event_store_env=spec["env"],
    )
    # Every batch inserts into each view table once; stop after two tables of the next batch.
    stop_at = spec["pause_after"] * len(PROJECTIONS) + 2
    calls = 0
    insert = Tx.insert

    def insert_then_pause(self: Tx, table: str, columns: Sequence[str], rows: Any) -> None:
        nonlocal calls
        insert(self, table, columns, rows)
        calls += 1
        if calls == stop_at:
            print(MARKER, flush=True)
            time.sleep(120)

    Tx.insert = insert_then_pause  # type: ignore[method-assign,assignment]
    if spec.get("poison"):
        break_invitations()
    app = LearningTeams.from_settings(settings)
    ProjectionRunner(
        app, ViewStore.from_settings(settings), batch_size=spec["batch_size"]
    ).catch_up()
    print("finished", flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
