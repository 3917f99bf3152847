"""An attacker with write access to the databases: raw SQL on the event store and audit store.

Works on both backends (the SQLite files in the data dir, or the test's PostgreSQL schema). The
audit tables refuse UPDATE and DELETE through triggers, so, like a real attacker, the audit-side
methods drop them first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

from ltflow.audit import chain, ledger
from ltflow.audit.mark import TABLE as MARK
from ltflow.audit.store import TABLES, AuditStore
from ltflow.config import Settings
from ltflow.eventstore import macs
from ltflow.eventstore.application import event_mac_key


class Tamper:
    def __init__(self, settings: Settings, events_table: str) -> None:
        self.settings = settings
        self.pg = settings.event_store == "postgres"
        if self.pg:
            import psycopg

            env = settings.eventsourcing_env()
            self.schema = env["POSTGRES_SCHEMA"]
            self._conn: Any = psycopg.connect(
                host=env["POSTGRES_HOST"],
                port=int(env["POSTGRES_PORT"]),
                dbname=env["POSTGRES_DBNAME"],
                user=env["POSTGRES_USER"],
                autocommit=True,
            )
            self.events_table = f'"{self.schema}".{events_table}'
            self._audit_conn = self._conn
        else:
            self._conn = sqlite3.connect(settings.sqlite_path, isolation_level=None)
            self._audit_conn = sqlite3.connect(
                settings.data_dir / "audit.sqlite3", isolation_level=None
            )
            self.events_table = events_table

    def close(self) -> None:
        self._conn.close()
        if not self.pg:
            self._audit_conn.close()

    # --- plumbing ---------------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    def run(self, sql: str, params: Sequence[Any] = (), *, audit: bool = False) -> list[Any]:
        conn = self._audit_conn if audit else self._conn
        cursor = conn.execute(self._sql(sql), params)
        return list(cursor.fetchall()) if cursor.description else []

    def key(self, team: UUID) -> Any:
        return team if self.pg else team.hex

    def audit_table(self, name: str) -> str:
        return f'"{self.schema}".{name}' if self.pg else name

    # --- the event store --------------------------------------------------------------------

    def row(self, team: UUID, version: int) -> tuple[str, bytes]:
        rows = self.run(
            f"SELECT topic, state FROM {self.events_table} WHERE originator_id = ? "
            "AND originator_version = ?",
            (self.key(team), version),
        )
        return str(rows[0][0]), bytes(rows[0][1])

    def set_state(self, team: UUID, version: int, state: bytes, topic: str | None = None) -> None:
        topic = topic or self.row(team, version)[0]
        self.run(
            f"UPDATE {self.events_table} SET state = ?, topic = ? WHERE originator_id = ? "
            "AND originator_version = ?",
            (state, topic, self.key(team), version),
        )

    def flip(self, team: UUID, version: int, index: int, mask: int = 0x01) -> None:
        _, state = self.row(team, version)
        mutated = bytearray(state)
        mutated[index % len(mutated)] ^= mask
        self.set_state(team, version, bytes(mutated))

    def permute(self, team: UUID, versions: Sequence[int]) -> None:
        """Version ``versions[k]`` gets the row of ``versions[k+1]`` (cyclically)."""
        rows = [self.row(team, v) for v in versions]
        for k, v in enumerate(versions):
            topic, state = rows[(k + 1) % len(rows)]
            self.set_state(team, v, state, topic)

    def delete(self, team: UUID, *versions: int) -> None:
        for v in versions:
            self.run(
                f"DELETE FROM {self.events_table} WHERE originator_id = ? "
                "AND originator_version = ?",
                (self.key(team), v),
            )

    def truncate(self, team: UUID, from_version: int) -> None:
        self.run(
            f"DELETE FROM {self.events_table} WHERE originator_id = ? AND originator_version >= ?",
            (self.key(team), from_version),
        )

    def insert_at(self, team: UUID, version: int, state: bytes) -> None:
        """Push versions >= ``version`` along by one and put a forged event at ``version``."""
        top = self.run(
            f"SELECT MAX(originator_version) FROM {self.events_table} WHERE originator_id = ?",
            (self.key(team),),
        )[0][0]
        for v in range(top, version - 1, -1):
            self.run(
                f"UPDATE {self.events_table} SET originator_version = ? WHERE originator_id = ? "
                "AND originator_version = ?",
                (v + 1, self.key(team), v),
            )
        topic, _ = self.row(team, version + 1)
        self.run(
            f"INSERT INTO {self.events_table} (originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?)",
            (self.key(team), version, topic, state),
        )

    def remac(self, team: UUID, version: int) -> None:
        """Give the stored row the writer's MAC anew: an insider holding the MAC key."""
        topic, state = self.row(team, version)
        mac = macs.event_mac(event_mac_key(self.settings), str(team), version, topic, state)
        table = f'"{self.schema}".{macs.TABLE}' if self.pg else macs.TABLE
        self.run(
            f"UPDATE {table} SET mac = ? WHERE originator_id = ? AND originator_version = ?",
            (mac, str(team), version),
        )

    # --- the audit store --------------------------------------------------------------------

    def drop_triggers(self) -> None:
        for table in TABLES:
            if self.pg:
                self.run(
                    f"DROP TRIGGER IF EXISTS {table}_append_only ON {self.audit_table(table)}",
                    audit=True,
                )
            else:
                for verb in ("update", "delete"):
                    self.run(f"DROP TRIGGER IF EXISTS {table}_no_{verb}", audit=True)

    def rewrite_chain(self, team: UUID) -> None:
        """Recompute the team's anchored digests and links from the (tampered) stored rows."""
        self.drop_triggers()
        rows = self.run(
            f"SELECT originator_version, topic, state FROM {self.events_table} "
            "WHERE originator_id = ? ORDER BY originator_version",
            (self.key(team),),
        )
        stored = [(int(v), str(t), bytes(s)) for v, t, s in rows]
        for (version, topic, state), link in zip(
            stored, chain.chain(str(team), stored), strict=True
        ):
            self.run(
                f"UPDATE {self.audit_table('lta_links')} SET digest = ?, link = ? "
                "WHERE team_id = ? AND version = ?",
                (chain.event_digest(topic, state), link, str(team), version),
                audit=True,
            )

    def rewrite_anchors(self, team: UUID, from_seq: int = 1, *, note: bool = True) -> None:
        """Make every anchor from ``from_seq`` on agree with the (rewritten) chain: heads,
        digests and prev links (the anchors before it are left as they are); ``note``: and the
        event store's note of its audit store (``ltflow.audit.mark``), which names anchor #1."""
        store = AuditStore.from_settings(self.settings)  # opening it restores the triggers
        try:
            with store.read() as tx:
                anchors = ledger.anchors(tx)
                heads = ledger.heads_of_anchors(tx)
                links = {s[0]: s[2] for s in ledger.links(tx, [str(team)])[str(team)]}
        finally:
            store.close()
        self.drop_triggers()
        prev = chain.ZERO
        for anchor in anchors:
            if anchor.seq < from_seq:
                prev = anchor.digest
                continue
            fixed_heads = [
                h._replace(link=links[h.version]) if h.team_id == str(team) else h
                for h in heads.get(anchor.seq, [])
            ]
            for h in fixed_heads:
                self.run(
                    f"UPDATE {self.audit_table('lta_anchor_heads')} SET link = ? "
                    "WHERE seq = ? AND team_id = ?",
                    (h.link, h.seq, h.team_id),
                    audit=True,
                )
            digest = replace(anchor, prev=prev).recompute(fixed_heads)
            self.run(
                f"UPDATE {self.audit_table('lta_anchors')} SET prev = ?, digest = ? WHERE seq = ?",
                (prev, digest, anchor.seq),
                audit=True,
            )
            if anchor.seq == 1 and note:
                table = f'"{self.schema}".{MARK}' if self.pg else MARK
                self.run(f"UPDATE {table} SET store = ?", (digest.hex(),))
            prev = digest
