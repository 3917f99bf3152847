"""One transaction layer on both backends: the same SQL (``?`` placeholders) gives the same
answers, writes are all or nothing, and writers holding the same lock take turns."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from ltflow.store.postgres import PostgresDatabase
from ltflow.store.sql import Database, Tx, advisory_key
from ltflow.store.sqlite import SQLiteDatabase
from tests.store.conftest import table


def _make(db: Database) -> str:
    name = table(db, "t_items")
    with db.write() as tx:
        tx.execute(f"CREATE TABLE {name} (team_id TEXT NOT NULL, n BIGINT NOT NULL, v TEXT)")
    return name


def test_the_same_statements_answer_the_same_on_both_backends(db: Database) -> None:
    name = _make(db)
    rows = [(f"team-{k % 700}", k, f"v{k}") for k in range(1400)]
    with db.write() as tx:
        tx.insert(name, ["team_id", "n", "v"], rows)
        assert tx.execute(f"UPDATE {name} SET v = ? WHERE n < ?", ("low", 10)) == 10
        tx.executemany(f"INSERT INTO {name} VALUES (?, ?, ?)", [("extra", 5000, None)])
        tx.executemany(f"INSERT INTO {name} VALUES (?, ?, ?)", [])  # nothing, no error
    with db.read() as tx:
        assert tx.fetchone(f"SELECT COUNT(*) FROM {name}") == (1401,)
        assert tx.fetchone(f"SELECT v FROM {name} WHERE n = ?", (3,)) == ("low",)
        assert tx.fetchone(f"SELECT v FROM {name} WHERE n = ?", (-1,)) is None
        wanted = [f"team-{k}" for k in range(0, 700, 1)]  # more than one SQLite chunk
        found = tx.fetch_for_teams(f"SELECT n FROM {name} WHERE team_id", wanted)
        assert sorted(n for (n,) in found) == list(range(1400))
        found = tx.fetch_in(f"SELECT n FROM {name} WHERE n > ? AND team_id", ["team-1"], (100,))
        assert found == [(701,)]
        where, params = tx.in_list([1, 2, 3])
        assert tx.fetchall(f"SELECT n FROM {name} WHERE n {where} ORDER BY n", params) == [
            (1,),
            (2,),
            (3,),
        ]
    with db.write() as tx:
        tx.delete_teams(name, [f"team-{k}" for k in range(600)])
        tx.delete_teams(name, [])
    with db.read() as tx:
        assert tx.fetchone(f"SELECT COUNT(*) FROM {name}") == (201,)


def test_a_statement_without_parameters_may_hold_percent_and_question_marks(
    db: Database,
) -> None:
    with db.read() as tx:
        assert tx.fetchone("SELECT '100% sure?'") == ("100% sure?",)
    with db.read(single=True) as tx:
        assert tx.fetchone("SELECT ? || '%'", ("50",)) == ("50%",)


def test_a_write_that_raises_leaves_nothing(db: Database) -> None:
    name = _make(db)

    def half_way() -> None:
        with db.write() as tx:
            tx.execute(f"INSERT INTO {name} VALUES (?, ?, ?)", ("a", 1, None))
            raise RuntimeError("half way")

    with pytest.raises(RuntimeError, match="half way"):
        half_way()
    with db.read() as tx:
        assert tx.fetchall(f"SELECT * FROM {name}") == []
    with db.write() as tx:  # and the database is usable again
        tx.execute(f"INSERT INTO {name} VALUES (?, ?, ?)", ("a", 1, None))
    with db.read() as tx:
        assert tx.fetchall(f"SELECT team_id FROM {name}") == [("a",)]


def test_writers_holding_the_same_lock_take_turns(db: Database) -> None:
    name = _make(db)
    lock = advisory_key("ltflow-test", "turns")
    inside, seen = threading.Event(), []

    def first() -> None:
        with db.write(lock) as tx:
            tx.execute(f"INSERT INTO {name} VALUES (?, ?, ?)", ("first", 1, None))
            inside.set()
            time.sleep(0.3)  # the second writer must wait for this commit

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(5)
    with db.write(lock) as tx:
        seen.extend(tx.fetchall(f"SELECT team_id FROM {name}"))
    thread.join()
    assert seen == [("first",)]


def test_setup_runs_once_before_the_first_transaction(db: Database) -> None:
    calls: list[Tx] = []
    name = table(db, "t_setup")

    def setup(tx: Tx) -> None:
        calls.append(tx)
        tx.execute(f"CREATE TABLE IF NOT EXISTS {name} (x BIGINT)")

    other: Database
    if isinstance(db, PostgresDatabase):
        other = PostgresDatabase(db.datastore, setup=setup, setup_lock=advisory_key("t"))
    else:
        assert isinstance(db, SQLiteDatabase)
        other = SQLiteDatabase(db.path, setup=setup)
    try:
        with other.read() as tx:
            assert tx.fetchall(f"SELECT x FROM {name}") == []
        with other.write() as tx:
            tx.execute(f"INSERT INTO {name} VALUES (?)", (1,))
        assert len(calls) == 1
    finally:
        other.close()


def test_advisory_keys_are_the_ones_earlier_versions_took() -> None:
    # Writers of two versions of ltflow, side by side in a rolling upgrade, still exclude
    # each other only if they lock the same keys.
    digest = hashlib.sha256(b"ltflow-views:public").digest()
    assert advisory_key("ltflow-views", "public") == int.from_bytes(digest[:8], "big", signed=True)
    assert advisory_key("a", "b") != advisory_key("a", "c")


@pytest.mark.parametrize(
    "settings", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_postgres_autocommit_gives_the_connection_back_as_it_was(db: Database) -> None:
    assert isinstance(db, PostgresDatabase)
    with db.autocommit() as tx:
        tx.execute("VACUUM")
    with db.datastore.get_connection() as conn:
        assert conn.autocommit
