"""Folding a batch into the views, team by team: a poison event stops only its own team.

Each team's events in a batch are folded the quick way first: onto its cached fold, in place,
and every read model's rows derived once at the end. If that raises, the team's cached fold may
be half changed, so it is dropped and the team's events are folded again carefully from its
stored fold (:func:`~ltflow.projections.poison.fold_carefully`): the views keep the rows of the
last event that folds, and the team is quarantined at the first that does not
(:mod:`ltflow.projections.quarantine`). Every write goes into the batch's transaction.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

import structlog

from ltflow.eventstore.decode import TeamEvent
from ltflow.projections import quarantine, team_detail
from ltflow.projections.base import Row, TeamProjection
from ltflow.projections.poison import (
    NOT_POISON,
    Careful,
    Entry,
    Poison,
    Undecodable,
    fold_carefully,
    rederive_poison,
)
from ltflow.projections.store import Tx, ViewStore
from ltflow.projections.team_models import TeamDetailView

log = structlog.get_logger("ltflow.projections")
TeamEvents = list[tuple[int, TeamEvent | Undecodable]]


@dataclass(slots=True)
class Fold:
    """A team's fold in the cache, with the rows last stored for it per derived read model."""

    view: TeamDetailView
    rows: dict[str, list[Row]]


class _Unreadable(Exception):
    """The quick fold met an event the log could not decode: the careful fold blames it."""


class Writes:
    """What one batch replaces in each read model: the teams it changed and their new rows."""

    def __init__(self, projections: Sequence[TeamProjection]) -> None:
        self.projections = projections
        self.teams: dict[str, list[str]] = {p.name: [] for p in projections}
        self.rows: dict[str, list[Row]] = {p.name: [] for p in projections}

    def replace(self, name: str, key: str, rows: list[Row]) -> None:
        """The team ``key``'s rows in read model ``name`` become ``rows``."""
        self.teams[name].append(key)
        self.rows[name].extend(rows)

    def commit(self, tx: Tx, store: ViewStore) -> None:
        """Delete the changed teams' rows and insert the new ones: one insert per table."""
        for projection in self.projections:
            table = store.table(projection.table)
            tx.delete_teams(table, self.teams[projection.name])
            tx.insert(table, projection.table.column_names, self.rows[projection.name])


class BatchFolder:
    """Folds batches onto the team folds it caches (the stored ones, least recently used out)."""

    def __init__(
        self,
        store: ViewStore,
        projections: Sequence[TeamProjection],
        *,
        code_version: str,
        cache_size: int,
    ) -> None:
        self.store = store
        self.projections = tuple(projections)
        self.base, self.derived = self.projections[0], self.projections[1:]
        #: The code of every view together: what a quarantine record remembers.
        self.code_version = code_version
        #: Poison events found by this process (a counter for the metrics; never goes down).
        self.poisoned = 0
        self.cache: OrderedDict[UUID, Fold] = OrderedDict()
        self.cache_size = cache_size

    def fold(self, tx: Tx, batch: Sequence[tuple[int, Entry]], held: set[UUID]) -> int:
        """Apply ``batch`` in ``tx``, skipping the ``held`` (quarantined) teams' events;
        returns how many events were applied."""
        by_team: dict[UUID, TeamEvents] = {}
        skipped: dict[UUID, int] = {}
        for position, event in batch:
            if event is None:
                continue
            team = event.originator_id
            if team in held:
                skipped[team] = skipped.get(team, 0) + 1
            else:
                by_team.setdefault(team, []).append((position, event))
        self._load(tx, [t for t in by_team if t not in self.cache])
        writes, applied = Writes(self.projections), 0
        for team_id, events in by_team.items():
            try:
                applied += self._quick(team_id, events, writes)
            except NOT_POISON:
                raise
            except Exception:  # a poison event among them, perhaps: fold them carefully
                applied += self._careful(tx, team_id, events, writes)
        quarantine.count_skipped(tx, self.store, skipped)
        writes.commit(tx, self.store)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return applied

    def refold(self, tx: Tx, team_id: UUID, events: TeamEvents) -> Poison | None:
        """Replace the team's rows with a fold of ``events`` (all of them, from its first);
        the poison it meets (quarantined), or None (released)."""
        careful = fold_carefully(team_id, lambda: None, events, self.projections)
        self.cache.pop(team_id, None)
        key = str(team_id)
        for projection in self.projections:
            table = self.store.table(projection.table)
            tx.delete_teams(table, [key])
            tx.insert(
                table, projection.table.column_names, (careful.rows or {}).get(projection.name, [])
            )
        if careful.poison is None:
            quarantine.release(tx, self.store, [team_id])
            log.info("team folded again from its first event: out of quarantine", team_id=key)
        else:
            self.quarantine(tx, careful.poison)
        return careful.poison

    def rederive(self, tx: Tx, projection: TeamProjection, held: set[UUID]) -> None:
        """Replace one read model's rows with rows derived from the stored folds; a team whose
        rows it cannot derive is quarantined (and added to ``held``)."""
        table = self.store.table(projection.table)
        tx.execute(f"DELETE FROM {table}")
        columns, last = projection.table.column_names, ""
        source = self.store.table(self.base.table)
        while page := tx.fetchall(
            f"SELECT team_id, doc FROM {source} WHERE team_id > ? ORDER BY team_id LIMIT 1000",
            (last,),
        ):
            rows: list[Row] = []
            for team_id, doc in page:
                rows.extend(self._derive(tx, projection, UUID(str(team_id)), doc, held))
            tx.insert(table, columns, rows)
            last = page[-1][0]

    def quarantine(self, tx: Tx, poison: Poison) -> None:
        """Record ``poison`` for its team (in ``tx``) and say so: the event, never its payload."""
        quarantine.record(tx, self.store, poison, self.code_version)
        self.cache.pop(poison.team_id, None)
        self.poisoned += 1
        log.warning(
            "team quarantined: its views stop before an event they cannot fold",
            team_id=str(poison.team_id),
            projection=poison.projection,
            notification_id=poison.notification_id,
            version=poison.version,
            event_type=poison.event_type,
            error_class=poison.error_class,
            error=poison.error,
            location=poison.location,
        )

    def forget(self) -> None:
        """Drop every cached fold (the views changed under this process)."""
        self.cache.clear()

    # --- the two ways to fold a team's events -------------------------------------------------

    def _quick(self, team_id: UUID, events: TeamEvents, writes: Writes) -> int:
        fold = self.cache.pop(team_id, None)  # changed in place: not cached again if this fails
        view = None if fold is None else fold.view
        for _, event in events:
            if isinstance(event, Undecodable):
                raise _Unreadable
            view = team_detail.apply_event(view, event)
        assert view is not None  # a team in a batch has at least one event
        base_rows = self.base.rows(view)
        derived = {p.name: p.rows(view) for p in self.derived}
        stored = {} if fold is None else fold.rows
        self.cache[team_id] = Fold(view, derived)
        writes.replace(self.base.name, view.key, base_rows)
        for projection in self.derived:
            rows = derived[projection.name]
            # Rows derived from decrypted fields are always written: the stored ones may hold
            # what a key opened before it was erased, which rows derived now no longer show.
            if projection.opens(view) or rows != stored.get(projection.name, []):
                writes.replace(projection.name, view.key, rows)
        return len(events)

    def _careful(self, tx: Tx, team_id: UUID, events: TeamEvents, writes: Writes) -> int:
        careful: Careful = fold_carefully(
            team_id, lambda: self._stored(tx, team_id), events, self.projections
        )
        if careful.rows is not None:
            for projection in self.projections:
                writes.replace(projection.name, str(team_id), careful.rows[projection.name])
        if careful.poison is not None:
            self.quarantine(tx, careful.poison)
        elif careful.view is not None and careful.rows is not None:  # it folded after all
            derived = {p.name: careful.rows[p.name] for p in self.derived}
            self.cache[team_id] = Fold(careful.view, derived)
        return careful.applied

    def _derive(
        self, tx: Tx, projection: TeamProjection, team_id: UUID, doc: str, held: set[UUID]
    ) -> list[Row]:
        view = None
        try:
            view = team_detail.load(doc)
            return projection.rows(view)
        except NOT_POISON:
            raise
        except Exception as exc:  # this team's fold only: quarantine it, derive the others
            if team_id not in held:
                self.quarantine(tx, rederive_poison(team_id, projection.name, view, exc))
                held.add(team_id)
            return []

    def _stored(self, tx: Tx, team_id: UUID) -> TeamDetailView | None:
        row = tx.fetchone(
            f"SELECT doc FROM {self.store.table(self.base.table)} WHERE team_id = ?",
            (str(team_id),),
        )
        return None if row is None else team_detail.load(row[0])

    def _load(self, tx: Tx, team_ids: list[UUID]) -> None:
        """Fetch the stored folds of these teams, with the rows stored for each of them."""
        if not team_ids:
            return
        sql = f"SELECT doc FROM {self.store.table(self.base.table)} WHERE team_id"
        for (doc,) in tx.fetch_for_teams(sql, [str(t) for t in team_ids]):
            try:
                view = team_detail.load(doc)
                rows = {p.name: p.rows(view) for p in self.derived}
            except NOT_POISON:
                raise
            except Exception:  # left out: the careful fold meets it again, and blames it
                continue
            self.cache[view.team_id] = Fold(view, rows)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector for one batch.

    A batch allocates some hundred thousand small containers (decoded events, rows) that are
    freed by reference counting when it ends; meanwhile the collector would walk them, and the
    whole fold cache with them, again and again: a fifth to a third of a catch-up's time. The
    pause lasts one batch (about a second at most); collection resumes right after it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
