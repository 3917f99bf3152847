"""`ltflow demo`, the README's first command, runs the case through all seven phases."""

from __future__ import annotations

from pathlib import Path

from ltflow.config import Settings
from ltflow.demo.run import run_demo


async def test_the_demo_runs_all_seven_phases_and_passes_its_audit_check(tmp_path: Path) -> None:
    lines: list[str] = []
    assert await run_demo(Settings(data_dir=tmp_path), out=lines.append)
    text = "\n".join(lines)
    assert "shortened" in text  # the screen says the durations are not the method's
    for phase in range(2, 8):
        assert f"→ phase {phase}:" in text
    assert "reflection.reminder_due" in text  # a durable timer fired and was stored
    assert text.count("review.due") == 2
    assert "FAIL" not in text
    assert "ok    hash chain over the stored bytes verifies" in text
    # Its data dir keeps its own view id key, so 'ltflow api' on it serves the cross-team views.
    assert (tmp_path / "demo" / "view.id.key").stat().st_mode & 0o777 == 0o600
