"""Recorded histories replay on today's workflow code: a non-deterministic change fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from ltflow.workflows.plugin import LtflowPlugin
from tests.workflows.record_histories import HERE, HISTORY_PAYLOAD_KEY

HISTORIES = sorted(HERE.glob("*.json"))


def test_there_are_recorded_histories_to_replay() -> None:
    assert len(HISTORIES) >= 2


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_recorded_history_replays_deterministically(path: Path, tmp_path: Path) -> None:
    from ltflow.config import Settings

    replayer = Replayer(
        workflows=[],
        plugins=[LtflowPlugin(Settings(data_dir=tmp_path, payload_keys=HISTORY_PAYLOAD_KEY))],
    )
    history = WorkflowHistory.from_json(f"learning-team-{path.stem}", path.read_text())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
