"""A new user's first hour (issue 20), as they live it: ``ltflow dev`` in one terminal, in a fresh
directory with nothing configured, and every other command in a second terminal: the README's
lines as written, then the rest of the command line. Everything reads what ``ltflow dev`` wrote in
its data dir; with no stack running the commands that need one say so at once."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LTFLOW = [sys.executable, "-m", "ltflow.cli"]
CASE = "VIM-2026-001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def readme_lines() -> list[str]:
    """The README's second-terminal commands, exactly as written there."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    _, _, after = text.partition("<!-- first-hour:")
    block = re.search(r"```bash\n(.*?)```", after, re.S)
    assert block is not None, "the README lost its first-hour commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


@dataclass
class Terminal:
    """A shell in the new user's directory: nothing configured, the venv on PATH."""

    cwd: Path
    env: dict[str, str]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*LTFLOW, *args],
            cwd=self.cwd,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def shell(self, line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", line],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )


@dataclass
class Dev:
    proc: subprocess.Popen[str]
    said: list[str]
    temporal_port: int


def start_dev(term: Terminal, temporal_port: int, api_port: int) -> Dev:
    # Only ``ltflow dev`` is told the port (as a user with 7233 taken would): the other
    # commands learn it from the data dir.
    env = {**term.env, "LTFLOW_EMBEDDED_TEMPORAL_PORT": str(temporal_port)}
    proc = subprocess.Popen(
        [*LTFLOW, "dev", "--port", str(api_port)],
        cwd=term.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    said: list[str] = []
    deadline = time.monotonic() + 90
    for line in proc.stdout:
        said.append(line)
        if "listening on" in line or time.monotonic() > deadline:
            break
    assert any("listening on" in line for line in said), said
    return Dev(proc, said, temporal_port)


def stop_dev(dev: Dev) -> None:
    # serve() installs its signal handlers just after it says where it listens: a Ctrl-C in
    # that instant would be a KeyboardInterrupt (exit 1), which no person types that fast.
    time.sleep(1)
    dev.proc.send_signal(signal.SIGINT)
    try:
        assert dev.proc.wait(timeout=30) == 0
    finally:
        dev.proc.kill()


@pytest.fixture
def term(tmp_path: Path) -> Terminal:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTFLOW_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return Terminal(tmp_path, env)


@pytest.fixture
def dev(term: Terminal) -> Iterator[Dev]:
    started = start_dev(term, free_port(), free_port())
    try:
        yield started
    finally:
        stop_dev(started)


def token_of(said: list[str]) -> str:
    found = re.search(r"Bearer (\S+)'", "".join(said))
    assert found is not None, said
    return found.group(1)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


INVITES = [
    {"type": "participant.invited", "event_id": f"inv-{p}", "participant_id": p, "role": "nurse"}
    for p in ("p-bram", "p-chen")
]


def test_every_command_reads_what_ltflow_dev_wrote(term: Terminal, dev: Dev) -> None:
    data = term.cwd / ".ltflow"
    record = json.loads((data / "stack.json").read_text())
    assert record["settings"]["LTFLOW_ENCRYPT_AT_REST"] == "1"
    assert record["settings"]["LTFLOW_EMBEDDED_TEMPORAL_PORT"] == str(dev.temporal_port)
    for private in ("dev.token", "stack.json", "temporal.log"):
        assert stat.S_IMODE((data / private).stat().st_mode) == 0o600, private
    assert not any("Temporal CLI" in line for line in dev.said)  # no banner on dev's screen

    for line in readme_lines():  # the README's lines, as written
        ok(term.shell(line))

    for event in INVITES:
        ok(term.run("team", "send", CASE, json.dumps(event)))
    shown = ok(term.run("team", "show", CASE))
    assert f"case {CASE}" in shown
    assert "scope.confirmed" in ok(term.run("team", "next", CASE))
    history = json.loads(ok(term.run("audit", "history", CASE, "--json")))
    assert "participant.erased" in [f["type"] for f in history]
    assert history[2]["payload"]["display_name"] != "Anna"  # erased: unreadable now
    ok(term.run("audit", "state", CASE, "--version", "3"))
    assert ok(term.run("audit", "verify", CASE)).startswith("OK")
    exported = ok(term.run("audit", "export", CASE, "-o", "again.jsonl"))
    assert "again.jsonl" in exported
    lines = (term.cwd / "again.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines if '"kind":"event"' in line]
    assert events
    assert all(e["event"] is not None for e in events)  # every event decoded, none null
    piped = term.shell("ltflow audit export VIM-2026-001 | head -1")
    assert piped.returncode == 0, piped.stderr
    assert "Traceback" not in piped.stderr
    assert "BrokenPipe" not in piped.stderr
    assert json.loads(piped.stdout)["kind"] == "header"

    # A command that still cannot decode names the setting and writes nothing.
    plain = {**term.env, "LTFLOW_ENCRYPT_AT_REST": "0"}
    refused = subprocess.run(
        [*LTFLOW, "audit", "export", CASE, "-o", "plain.jsonl"],
        cwd=term.cwd,
        env=plain,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "LTFLOW_ENCRYPT_AT_REST=1" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (term.cwd / "plain.jsonl").exists()
    erase = subprocess.run(
        [*LTFLOW, "participant", "erase", CASE, "p-bram"],
        cwd=term.cwd,
        env=plain,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert erase.returncode == 1
    assert "LTFLOW_ENCRYPT_AT_REST=1" in erase.stderr
    assert "Traceback" not in erase.stderr
    after = json.loads(ok(term.run("audit", "history", CASE, "--json")))
    erased = [f["payload"]["participant_id"] for f in after if f["type"] == "participant.erased"]
    assert erased == ["p-anna"]  # nothing recorded by the command that could not read


TEAM_COMMANDS = [
    ["team", "show", CASE],
    ["team", "next", CASE],
    ["team", "send", CASE, json.dumps(INVITES[0])],
    [
        "team",
        "open",
        json.dumps(
            {
                "case_ref": "X-1",
                "title": "t",
                "trigger": "incident",
                "goal": "g",
                "scope": "s",
                "facilitator": "f",
            }
        ),
    ],
    ["team", "repair", CASE],
    ["participant", "erase", CASE, "p-anna"],
]


def test_with_no_stack_running_commands_say_so_at_once_and_start_none(term: Terminal) -> None:
    # A data dir that ltflow dev made, and then stopped.
    first = start_dev(term, free_port(), free_port())
    token = token_of(first.said)
    ok(term.run("team", "open", json.dumps({"case_ref": CASE, "title": "t", "trigger":
        "incident", "goal": "g", "scope": "s", "facilitator": "f"})))  # fmt: skip
    stop_dev(first)
    assert not listening(first.temporal_port)

    for command in TEAM_COMMANDS:
        started = time.monotonic()
        result = term.run(*command)
        took = time.monotonic() - started
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "No ltflow stack is running" in result.stderr, result.stderr
        assert "`ltflow dev`" in result.stderr
        assert "Traceback" not in result.stderr
        assert took < 5.0, (command, took)
        assert not listening(first.temporal_port), f"{command} started a Temporal server"
    api = term.run("api", "--port", str(free_port()))
    assert api.returncode == 1
    assert "`ltflow dev`" in api.stderr
    # The auditor's tools read the store, not the stack: they work without it.
    assert ok(term.run("audit", "verify", CASE)).startswith("OK")

    # The token is the data dir's: the same after a restart.
    second = start_dev(term, first.temporal_port, free_port())
    try:
        assert token_of(second.said) == token
    finally:
        stop_dev(second)


def test_help_explains_every_option_and_shows_its_default(term: Terminal) -> None:
    shown = ok(term.run("dev", "--help"))
    assert "port of the HTTP API (default: 8000)" in " ".join(shown.split())
    send = " ".join(ok(term.run("team", "send", "--help")).split())
    assert "case_ref" in send
    assert "default: the OS user" in send
    audit = " ".join(ok(term.run("audit", "log", "--help")).split())
    assert "(default: 50)" in audit
