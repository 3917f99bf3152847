"""How far each projection is: position, exact events behind, and whether its code changed."""

from __future__ import annotations

import sqlite3

from eventsourcing.persistence import PersistenceError
from pydantic import BaseModel

from ltflow.projections.runner import ProjectionRunner, Tracked

#: What reading a tracking table that does not exist yet raises, per backend.
_NOT_CREATED = (sqlite3.OperationalError, PersistenceError)


class ProjectionStatus(BaseModel):
    """How far one projection is."""

    name: str
    description: str
    #: The last notification id applied (0: none).
    position: int
    max_notification_id: int
    #: How many stored events it has not applied yet (an exact count, not an id difference).
    behind: int
    #: The code version it was built with (None: never built).
    version: str | None
    code_version: str
    #: Built by other code than is running now: ``run`` rebuilds it first.
    stale: bool


def projection_status(runner: ProjectionRunner) -> list[ProjectionStatus]:
    """Per projection of ``runner``: where it is and how far behind. Reads only."""
    try:
        tracked = runner.positions()
    except _NOT_CREATED:
        tracked = {}
    max_id = runner.log.max_id()
    behind: dict[int, int] = {}
    result = []
    for projection in runner.projections:
        mine = tracked.get(projection.name, Tracked(0, ""))
        if mine.position not in behind:
            behind[mine.position] = runner.log.count_after(mine.position)
        result.append(
            ProjectionStatus(
                name=projection.name,
                description=projection.description,
                position=mine.position,
                max_notification_id=max_id,
                behind=behind[mine.position],
                version=mine.version or None,
                code_version=projection.code_version,
                stale=mine.version != projection.code_version,
            )
        )
    return result
