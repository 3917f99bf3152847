"""What every read model is: a table, and a pure function from one team's fold to its rows.

Each read model is a function of a single team's
:class:`~ltflow.projections.team_models.TeamDetailView` (the one interpretation of the events).
That makes a view rebuildable two ways: replay the log through the fold, or, when only the view's
own code changed, re-derive its rows from the stored folds without reading the event store.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from ltflow.aggregates.bounds import to_utc
from ltflow.store.sql import Dialect, Row

if TYPE_CHECKING:
    from ltflow.projections.team_models import TeamDetailView

__all__ = ["ColumnType", "Dialect", "ProjectionError", "Row", "Table", "TeamProjection"]

#: Column types, the same words on both backends (times are stored as UTC ISO 8601 text,
#: which sorts chronologically and reads back the same everywhere).
ColumnType = Literal["TEXT", "INTEGER", "BIGINT"]


class ProjectionError(RuntimeError):
    """The views and the event log disagree in a way the runner must not paper over."""


@dataclass(frozen=True)
class Table:
    """One view table. ``key`` starts with ``team_id``: a team's rows are replaced as a whole."""

    name: str
    columns: tuple[tuple[str, ColumnType], ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    def ddl(self, qualified: str, prefix: str) -> list[str]:
        """CREATE statements for this table under its qualified name."""
        cols = ", ".join(f"{name} {type_}" for name, type_ in self.columns)
        statements = [
            f"CREATE TABLE IF NOT EXISTS {qualified} ({cols}, PRIMARY KEY ({', '.join(self.key)}))"
        ]
        for number, index in enumerate(self.indexes):
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {prefix}{self.name}_ix{number} "
                f"ON {qualified} ({', '.join(index)})"
            )
        return statements

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


@dataclass(frozen=True)
class TeamProjection:
    """A read model: its table, its rows for one team, and a version that changes with its code."""

    name: str
    table: Table
    rows: Callable[[TeamDetailView], list[Row]]
    #: Bump to force a rebuild when behaviour changes without a source change (a dependency).
    version: int = 1
    description: str = ""
    #: Other modules whose source is part of this view's code (the rows' module always is).
    depends_on: tuple[str, ...] = ()
    #: The lists of the fold whose personal fields its rows need in plaintext: the runner
    #: hands it the fold with those decrypted (:func:`~ltflow.projections.team_detail.opened`);
    #: every other view gets them encrypted, as the fold keeps them.
    personal: tuple[str, ...] = ()
    #: For which teams its rows read those fields at all (None: every team); the others get
    #: the fold as it is, which costs no key lookup.
    personal_if: Callable[[TeamDetailView], bool] | None = None

    def opens(self, view: TeamDetailView) -> bool:
        """Whether its rows for this team's fold read personal fields in plaintext."""
        return bool(self.personal) and (self.personal_if is None or self.personal_if(view))

    @cached_property
    def code_version(self) -> str:
        """``<version>.<hash of the table and the source of its modules>``: any change shows."""
        digest = hashlib.sha256(repr(self.table).encode())
        for name in sorted({self.rows.__module__, *self.depends_on}):
            digest.update(inspect.getsource(importlib.import_module(name)).encode())
        return f"{self.version}.{digest.hexdigest()[:12]}"


def iso(moment: datetime | None) -> str | None:
    """A time as stored in view tables: UTC ISO 8601. Such strings sort chronologically
    (a whole second's ``+00:00`` sorts before any fraction of it), on every backend."""
    if moment is None:
        return None
    return (moment if moment.tzinfo is UTC else to_utc(moment)).isoformat()


def iso_date(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def month_of(moment: datetime) -> str:
    """The calendar month (UTC) a moment falls in, as ``YYYY-MM``."""
    utc = to_utc(moment)
    return f"{utc.year:04d}-{utc.month:02d}"


def equal_filters(pairs: Iterable[tuple[str, object | None]]) -> tuple[list[str], list[object]]:
    """``column = ?`` conditions and their values, for the filters that were given."""
    where: list[str] = []
    params: list[object] = []
    for column, value in pairs:
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return where, params


def where_sql(where: Sequence[str]) -> str:
    return " WHERE " + " AND ".join(where) if where else ""
