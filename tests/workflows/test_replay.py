"""Recorded histories replay on today's workflow code: a non-deterministic change fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from ltflow.config import Settings
from ltflow.workflows.plugin import LtflowPlugin
from tests.workflows.record_histories import HERE, HISTORY_PAYLOAD_KEY

HISTORIES = sorted(HERE.glob("*.json"))
#: Generations recorded before payload encryption: their payloads are plaintext.
PLAINTEXT_GENERATIONS = ("v1-",)


def test_there_are_recorded_histories_to_replay() -> None:
    assert len(HISTORIES) >= 2


def _replayer(tmp_path: Path, *, accept_plaintext: bool) -> Replayer:
    settings = Settings(data_dir=tmp_path, payload_keys=HISTORY_PAYLOAD_KEY)
    plugin = LtflowPlugin(settings, accept_plaintext_payloads=accept_plaintext)
    return Replayer(workflows=[], plugins=[plugin])


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"learning-team-{path.stem}", path.read_text())


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_recorded_history_replays_deterministically(path: Path, tmp_path: Path) -> None:
    # Only the histories from before encryption are replayed accepting plaintext payloads.
    replayer = _replayer(tmp_path, accept_plaintext=path.name.startswith(PLAINTEXT_GENERATIONS))
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


PLAINTEXT = [p for p in HISTORIES if p.name.startswith(PLAINTEXT_GENERATIONS)]


@pytest.mark.parametrize("path", PLAINTEXT, ids=[p.stem for p in PLAINTEXT])
async def test_a_worker_refuses_the_plaintext_of_a_history_from_before_encryption(
    path: Path, tmp_path: Path
) -> None:
    replayer = _replayer(tmp_path, accept_plaintext=False)
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is not None
