"""`ltflow demo`, the README's first command, runs the case through all seven phases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltflow.config import Settings
from ltflow.demo.run import PHASE_MEANING, run_demo


async def test_the_demo_runs_all_seven_phases_and_passes_its_audit_check(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
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
    # Each phase explained once, in one plain sentence, as it begins.
    for phase, sentence in PHASE_MEANING.items():
        assert text.count(sentence) == 1, phase
        assert sentence.endswith(".")
        assert sentence.count(". ") == 0, sentence
    assert "red thread" in PHASE_MEANING[4]
    assert "Safety nets" in PHASE_MEANING[5]
    assert "Processing time" in PHASE_MEANING[3]
    # Perspectives and reflections are recorded as their participants', the rest as the
    # facilitator's (or ltflow's own timers).
    told = [line for line in lines if "perspective.shared" in line or "reflection.noted" in line]
    history = [line for line in told if line.startswith("  ") and ":" in line.split()[1]]
    assert history
    assert all(line.split()[2].startswith("p-") for line in history), history
    # The dev server's banner stays out of the timeline (the terminal's standard output).
    assert "Temporal CLI" not in capfd.readouterr().out
    # The demo's data dir records its settings, so the auditor's commands read the same.
    record = json.loads((tmp_path / "demo" / "stack.json").read_text())
    assert record["made_by"] == "ltflow demo"
    assert record["settings"]["LTFLOW_ENCRYPT_AT_REST"] == "1"
    # Its data dir keeps its own view id key, so 'ltflow api' on it serves the cross-team views.
    assert (tmp_path / "demo" / "view.id.key").stat().st_mode & 0o777 == 0o600
