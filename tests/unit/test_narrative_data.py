"""The narrative case as data (``ltflow/demo/case.toml``) gives exactly what the old code gave.

``narrative_steps.golden.json`` was recorded from ``ltflow/narrative.py`` (the case written as one
Python function) before the case became data: the convene bodies and, for several starts and
method durations, every step's time since the previous one (in microseconds), event and caption.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from ltflow.demo import narrative
from ltflow.demo.durations import DurationError, evaluate, iso_duration, time_at

GOLDEN = json.loads((Path(__file__).parent / "narrative_steps.golden.json").read_text("utf-8"))
MICROSECOND = timedelta(microseconds=1)


def _durations(case: dict[str, Any]) -> dict[str, timedelta]:
    given = {"reflection": case["reflection_us"], "review_every": case["review_every_us"]}
    return {name: us * MICROSECOND for name, us in given.items() if us is not None}


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_the_steps_are_the_ones_the_old_function_gave(case: dict[str, Any]) -> None:
    start = datetime.fromisoformat(case["start"])
    got = [
        {"after_us": step.after // MICROSECOND, "caption": step.caption, "event": step.event}
        for step in narrative.steps(start, **_durations(case))
    ]
    # Compared as text, so the order of each event's fields counts too.
    assert json.dumps(got, ensure_ascii=False) == json.dumps(case["steps"], ensure_ascii=False)


def test_the_convene_bodies_are_the_ones_the_old_function_gave() -> None:
    policy = {"min_reflection": "PT2S", "review_every": "PT3S"}
    for got, want in [
        (narrative.convene(), GOLDEN["convene"]["default"]),
        (narrative.convene(policy=policy, case_ref="DEMO-1"), GOLDEN["convene"]["with_policy"]),
    ]:
        assert json.dumps(got) == json.dumps(want)
    assert narrative.CASE_REF == "VIM-2026-0412"


def test_every_call_gives_fresh_events() -> None:
    start = datetime.fromisoformat(GOLDEN["cases"][0]["start"])
    first, second = narrative.steps(start), narrative.steps(start)
    first[12].event["attendees"].append("p-eva")
    first[0].event["display_name"] = "changed"
    assert second[12].event["attendees"] == ["p-anna", "p-bram", "p-chen", "p-dewi"]
    assert narrative.steps(start)[0].event["display_name"] == "Anna (evening nurse)"


def test_the_participants_and_attendees_are_read_from_the_case() -> None:
    assert [p[0] for p in narrative.PARTICIPANTS] == [
        "p-anna",
        "p-bram",
        "p-chen",
        "p-dewi",
        "p-eva",
    ]
    assert narrative.ATTENDEES == ["p-anna", "p-bram", "p-chen", "p-dewi"]


def test_the_data_file_is_a_resource_of_the_package() -> None:
    assert files("ltflow.demo").joinpath("case.toml").is_file()


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("PT1M", timedelta(minutes=1)),
        ("P1DT12H30M5S", timedelta(days=1, hours=12, minutes=30, seconds=5)),
        ("reflection - noted", timedelta(days=2)),
        ("reflection / 2 + PT1H", timedelta(days=1, hours=13)),
        ("min(PT20H, reflection / 2)", timedelta(hours=20)),
        ("min( reflection/4 , P1D ) / 3", timedelta(hours=6)),
        ("PT3S / 2 / 2", timedelta(microseconds=750_000)),
    ],
)
def test_the_duration_vocabulary(expr: str, want: timedelta) -> None:
    names = {"reflection": timedelta(days=3), "noted": timedelta(days=1)}
    assert evaluate(expr, names) == want


@pytest.mark.parametrize(
    "expr",
    ["", "P", "PT", "P1W", "3 days", "unknown", "PT1M +", "PT1M / 0", "PT1M * 2", "min(PT1M)"],
)
def test_what_is_not_in_the_vocabulary_is_refused(expr: str) -> None:
    with pytest.raises(DurationError):
        evaluate(expr, {"reflection": timedelta(days=3)})


def test_a_time_is_the_start_plus_a_duration() -> None:
    start = datetime.fromisoformat("2026-03-02T09:00:00+01:00")
    assert time_at("start + P2D", start, {}) == start + timedelta(days=2)
    with pytest.raises(DurationError):
        time_at("P2D", start, {})
    assert iso_duration("PT20H") == timedelta(hours=20)
