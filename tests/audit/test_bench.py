"""The audit benchmark runs at a tiny size on every test run, so it never rots."""

from __future__ import annotations

import pytest
import structlog

from bench.audit import main


def test_the_audit_benchmark_runs_at_smoke_size(capsys: pytest.CaptureFixture[str]) -> None:
    with structlog.testing.capture_logs():
        lines = main(["--smoke"])
    assert [line.name for line in lines] == [
        "anchor (whole store)",
        "verify (one case)",
        "verify (whole store)",
        "replay (case, last v.)",
        "offline check (export)",
    ]
    assert all(line.work > 0 and line.seconds > 0 and line.floor_seconds > 0 for line in lines)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("bench.audit on sqlite")
    assert sum(" ratio " in line for line in out[1:]) == 5
