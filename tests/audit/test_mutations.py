"""A thousand random single-byte mutations of stored events, every one detected.

The mutations are made in memory on the rows exactly as one real store holds them, and judged by
the same comparison ``verify`` uses, against the chain that store anchored; some more are made in
the real databases (both backends) and judged by ``verify`` end to end, one team and whole store.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from uuid import UUID

import pytest

from ltflow.audit import Audit, ledger
from ltflow.audit.findings import check_team
from ltflow.audit.ledger import Head, Linked
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from tests.audit.conftest import AUDITOR
from tests.audit.tamper import Tamper
from tests.conftest import Clock
from tests.integration.helpers import run_narrative

Row = tuple[int, str, bytes]
MUTATIONS = 1000


@pytest.fixture(scope="module")
def anchored_store(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, list[Row], list[Linked], list[Head]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("mutations"))
    app = LearningTeams.from_settings(settings)
    team_id, _ = run_narrative(app, Clock(datetime(2026, 3, 2, 9, tzinfo=UTC)))
    audit = Audit.from_settings(settings, app)
    audit.anchor()
    team = str(team_id)
    rows = [(v, topic, state) for _, v, topic, state in audit.source.rows([team])]
    with audit.store.read() as tx:
        linked = ledger.links(tx, [team])[team]
        anchored = ledger.heads_of_teams(tx, [team])[team]
    audit.close()
    app.close()
    return team, rows, linked, anchored


def mutate(team: str, rows: list[Row], rng: random.Random) -> tuple[str, list[Row]]:
    """Flip one byte somewhere in one stored row: its originator id, version, topic or state."""
    index = rng.randrange(len(rows))
    version, topic, state = rows[index]
    parts = [team.encode(), version.to_bytes(8, "big", signed=True), topic.encode(), state]
    at = rng.randrange(sum(len(p) for p in parts))
    field = 0
    while at >= len(parts[field]):
        at -= len(parts[field])
        field += 1
    changed = bytearray(parts[field])
    changed[at] ^= rng.randrange(1, 256)
    out = list(rows)
    if field == 0:  # the row now belongs to another originator: gone from this team
        del out[index]
    elif field == 1:
        out[index] = (int.from_bytes(changed, "big", signed=True), topic, state)
        out.sort(key=lambda row: row[0])
    elif field == 2:
        out[index] = (version, changed.decode("utf-8", errors="replace"), state)
    else:
        out[index] = (version, topic, bytes(changed))
    return ("originator_id", "version", "topic", "state")[field], out


def test_a_thousand_single_byte_mutations_are_all_detected(
    anchored_store: tuple[str, list[Row], list[Linked], list[Head]],
) -> None:
    team, rows, linked, anchored = anchored_store
    assert check_team(team, rows, linked, anchored).ok
    rng = random.Random(20260306)
    fields: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for _ in range(MUTATIONS):
        field, mutated = mutate(team, rows, rng)
        verdict = check_team(team, mutated, linked, anchored)
        assert not verdict.ok, (field, mutated)
        fields[field] += 1
        kinds.update({f.kind for f in verdict.findings if f.failure})
    assert fields["state"] > 600
    assert len(fields) == 4
    assert {"changed", "deleted"} <= set(kinds)


@pytest.mark.parametrize("flips", [12])
def test_random_byte_flips_in_the_database_are_detected_and_undone_verify_again(
    audit: Audit, anchored_case: UUID, tamper: Tamper, flips: int
) -> None:
    rng = random.Random(6)
    for _ in range(flips):
        version = rng.randrange(1, 45)
        topic, original = tamper.row(anchored_case, version)
        tamper.flip(anchored_case, version, rng.randrange(len(original)), rng.randrange(1, 256))
        one = audit.verify(anchored_case, AUDITOR, read_model=False)
        assert [(f.kind, f.version) for f in one.findings] == [("changed", version)]
        assert not audit.verify(None, AUDITOR).ok
        tamper.set_state(anchored_case, version, original, topic)
    assert audit.verify(None, AUDITOR).ok


def test_flipping_bits_of_the_stored_row_keys_is_detected(
    audit: Audit, anchored_case: UUID, tamper: Tamper
) -> None:
    tamper.run(
        f"UPDATE {tamper.events_table} SET originator_version = 1044 "
        "WHERE originator_id = ? AND originator_version = 20",
        (tamper.key(anchored_case),),
    )
    report = audit.verify(anchored_case, AUDITOR, read_model=False)
    assert ("reordered", 1044) in {(f.kind, f.version) for f in report.findings}
    assert not audit.verify(None, AUDITOR).ok
