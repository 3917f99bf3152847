"""How a series names its teams' cases: ``series-<series id>-<slot in UTC>``. Pure, no imports
beyond the standard library, so the read models can tell a series' team by its case."""

from __future__ import annotations

import re
from datetime import UTC, datetime

SERIES_ID = r"[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?"
_CASE_REF = re.compile(
    rf"^series-(?P<id>{SERIES_ID})-(?P<slot>\d{{4}}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?Z)$"
)


def slot_label(slot: datetime) -> str:
    """``2026-12-07T13:00Z``: the slot in UTC, to the minute (seconds only when it has them)."""
    utc = slot.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ" if utc.second else "%Y-%m-%dT%H:%MZ")


def case_ref_for(series_id: str, slot: datetime) -> str:
    """The case of the team a slot convenes; the team id derives from it, so opening it again
    (a retry, a catch-up, a backfill) finds the same team."""
    return f"series-{series_id}-{slot_label(slot)}"


def parse_case_ref(case_ref: str) -> tuple[str, datetime] | None:
    """The series id and slot of a series' case, or None for any other case."""
    match = _CASE_REF.match(case_ref)
    if match is None:
        return None
    label = match["slot"]
    text = label[:-1] + (":00" if label.count(":") == 1 else "") + "+00:00"
    return match["id"], datetime.fromisoformat(text)


def series_of(case_ref: str) -> str | None:
    parsed = parse_case_ref(case_ref)
    return None if parsed is None else parsed[0]
