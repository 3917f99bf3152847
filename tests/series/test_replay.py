"""The convening workflow's recorded histories replay on today's code (an opened and a skipped
slot): a non-deterministic change fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from ltflow.config import Settings
from ltflow.workflows.plugin import LtflowPlugin
from tests.series.record_histories import HERE
from tests.workflows.record_histories import HISTORY_PAYLOAD_KEY

HISTORIES = sorted(HERE.glob("*.json"))


def test_an_opened_and_a_skipped_slot_are_recorded() -> None:
    assert {p.stem.split("-", 1)[1] for p in HISTORIES} >= {"opened", "skipped"}


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_recorded_convening_replays_deterministically(path: Path, tmp_path: Path) -> None:
    plugin = LtflowPlugin(Settings(data_dir=tmp_path, payload_keys=HISTORY_PAYLOAD_KEY))
    replayer = Replayer(workflows=[], plugins=[plugin])
    history = WorkflowHistory.from_json(f"series-{path.stem}", path.read_text())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
