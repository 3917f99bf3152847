"""``ltflow series ...`` the way an operator types it, against the dev server and a worker."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from ltflow.cli import main
from tests.series.conftest import at_seconds, eventually, series_body
from tests.workflows.conftest import Stack


@pytest.fixture
def cli_env(dev_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    config = dev_stack.client.service_client.config
    monkeypatch.setenv("LTFLOW_TEMPORAL_ADDRESS", config.target_host)
    monkeypatch.setenv("LTFLOW_TASK_QUEUE", dev_stack.settings.task_queue)
    monkeypatch.setenv("LTFLOW_DATA_DIR", str(dev_stack.settings.data_dir))
    monkeypatch.setenv("LTFLOW_MIN_POLICY_DURATION", "PT1S")
    return dev_stack


async def ltflow(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["series", *args])
    out, err = capsys.readouterr()
    return code, out, err


async def test_create_show_pause_resume_backfill_list_and_delete(
    cli_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    start = at_seconds(1)
    body = series_body(start=start.isoformat())
    sid = body["series_id"]
    code, out, err = await ltflow(capsys, "create", json.dumps(body), "--json", "--actor", "ops")
    assert code == 0, err
    assert json.loads(out)["series"]["changed_by"] == "ops"

    async def opened() -> Any:
        _code, out, _ = await ltflow(capsys, "show", sid, "--json")
        recent = json.loads(out)["recent"]
        return [r for r in recent if r["result"] and r["result"]["outcome"] == "opened"]

    [first] = (await eventually(opened))[:1]
    code, out, err = await ltflow(capsys, "show", sid)
    assert code == 0, err
    assert f"opened: team {first['result']['team_id']}" in out
    code, out, err = await ltflow(capsys, "pause", sid, "--note", "ward closed")
    assert code == 0, err
    assert "paused (ward closed)" in out
    assert "next: none" in out
    code, out, err = await ltflow(capsys, "resume", sid)
    assert code == 0, err
    assert "running" in out
    code, out, err = await ltflow(
        capsys,
        "backfill",
        sid,
        "--start",
        start.isoformat(),
        "--end",
        (start + timedelta(seconds=1)).isoformat(),
    )
    assert code == 0, err
    assert "backfill requested" in out
    changed = {**body, "template": {**body["template"], "title": "Evening learning, ward 5"}}
    code, out, err = await ltflow(capsys, "update", sid, json.dumps(changed))
    assert code == 0, err
    assert "Evening learning, ward 5" in out
    code, out, err = await ltflow(capsys, "list", "--json")
    assert code == 0, err
    assert sid in [s["series"]["series_id"] for s in json.loads(out)]
    code, out, err = await ltflow(capsys, "delete", sid)
    assert code == 0, err
    assert out.strip() == "deleted"
    code, out, err = await ltflow(capsys, "show", sid)
    assert code == 1
    assert "No series with id" in err
    assert "(not_found)" in err


async def test_bad_input_is_refused_before_anything_connects(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens here: a command that connected would fail with another message.
    monkeypatch.setenv("LTFLOW_TEMPORAL_ADDRESS", "127.0.0.1:9")
    body = series_body(rhythm={"kind": "every", "every": "P0D"})
    code, _, err = await ltflow(capsys, "create", json.dumps(body))
    assert code == 1
    assert "'rhythm.every'" in err
    assert "(invalid_event)" in err
    code, _, err = await ltflow(capsys, "create", "{not json")
    assert code == 1
    assert "not valid JSON" in err
    code, _, err = await ltflow(
        capsys, "backfill", "x", "--start", "2027-01-01", "--end", "2027-01-02Z"
    )
    assert code == 2
    assert "needs an offset" in err
