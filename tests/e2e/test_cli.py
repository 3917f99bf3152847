"""The command line the way a person uses it: `ltflow dev` in one terminal, commands in another."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

LTFLOW = [sys.executable, "-m", "ltflow.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "LTFLOW_DATA_DIR": str(tmp_path),
        "LTFLOW_EMBEDDED_TEMPORAL_PORT": str(free_port()),
        "LTFLOW_TASK_QUEUE": "cli-test",
    }
    port = free_port()
    proc = subprocess.Popen(
        [*LTFLOW, "dev", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if "listening on" in line or time.monotonic() > deadline:
            break
    try:
        yield env
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=30) == 0  # Ctrl-C stops all of it cleanly
        finally:
            proc.kill()


def ltflow(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LTFLOW, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def test_a_person_opens_sends_shows_and_lists_teams(stack: dict[str, str]) -> None:
    body = json.dumps(
        {
            "case_ref": "CLI-1",
            "title": "Falls at night",
            "trigger": "theme_trend",
            "theme": "falls",
            "goal": "g",
            "scope": "s",
            "facilitator": "fac-1",
        }
    )
    opened = ltflow(stack, "team", "open", body, "--json")
    assert opened.returncode == 0, opened.stderr
    team_id = json.loads(opened.stdout)["team_id"]

    for i in range(3):
        event = {
            "type": "participant.invited",
            "event_id": f"i-{i}",
            "participant_id": f"p-{i}",
            "role": "nurse",
        }
        sent = ltflow(stack, "team", "send", team_id, "-", stdin=json.dumps(event))
        assert sent.returncode == 0, sent.stderr
    assert "phase 1 (goal and scope)" in sent.stdout

    rejected = ltflow(
        stack, "team", "send", team_id, '{"type": "analysis.concluded", "event_id": "x"}'
    )
    assert rejected.returncode == 1
    assert "wrong_phase" in rejected.stderr
    bad = ltflow(stack, "team", "send", team_id, "{not json")
    assert bad.returncode == 2  # a usage error, as every other malformed command line
    assert "not valid JSON" in bad.stderr
    usage = ltflow(stack, "team", "frobnicate")
    assert usage.returncode == 2

    shown = ltflow(stack, "team", "show", team_id, "--json")
    assert json.loads(shown.stdout)["active_participants"] == 3

    deadline = time.monotonic() + 15
    listed: list[dict[str, object]] = []
    while time.monotonic() < deadline and not listed:
        listed = json.loads(ltflow(stack, "team", "list", "--theme", "falls", "--json").stdout)
        time.sleep(0.5)
    assert [t["case_ref"] for t in listed] == ["CLI-1"]
    assert ltflow(stack, "audit", "verify", team_id).returncode == 0
