"""Where a team's workflow lives: its workflow id, which nobody can compute from a case number.

A team id is ``uuid5`` of the sender's ``case_ref`` (contract section 1), and case numbers are
guessable (``VIM-2026-002``). Teams opened before this module named their workflow
``learning-team-<team id>``, so anyone who can list workflows could map a guessed case number
to its workflow, and so to its phase, status, theme and the times of its history. Teams opened
now are named with the deployment's secret key (the key of the views' opaque ids,
``LTFLOW_VIEW_ID_KEY``): ``learning-team-<HMAC of the team id>``.

Nothing stored is rewritten: a team opened before keeps its workflow. So a client with the key
looks for a team's workflow under the old name first, and uses the keyed name only where there
is none; it remembers the answer. Every process that opens teams must hold the same key (ltflow's
own processes read it from the configuration or the data dir): a client without it names new
workflows the old way, which clients with the key find too, but it cannot find teams whose
workflow has the keyed name.
"""

from __future__ import annotations

import base64
import hmac
from collections import OrderedDict
from typing import TYPE_CHECKING
from uuid import UUID

from ltflow.workflows.learning_team import workflow_id_for

if TYPE_CHECKING:
    from ltflow.config import Settings

_LABEL = b"ltflow workflow id\x00"
PREFIX = "learning-team-"
#: How many teams' workflow ids a client remembers (a few hundred KB at most).
_REMEMBERED = 10_000


def legacy_workflow_id(team_id: UUID) -> str:
    """The name of workflows of teams opened before keyed names: ``learning-team-<team id>``."""
    return workflow_id_for(team_id)


class WorkflowIds:
    """A deployment's names of team workflows (None key: the old names only)."""

    def __init__(self, key: bytes | None) -> None:
        if key is not None and len(key) < 32:
            raise ValueError("The workflow id key must be at least 32 bytes.")
        self._key = key
        self._known: OrderedDict[UUID, str] = OrderedDict()

    @property
    def keyed(self) -> bool:
        return self._key is not None

    def new_id(self, team_id: UUID) -> str:
        """The name a team opened now gets."""
        if self._key is None:
            return legacy_workflow_id(team_id)
        digest = hmac.digest(self._key, _LABEL + team_id.bytes, "sha256")[:20]
        return PREFIX + base64.b32encode(digest).decode().lower()

    def remembered(self, team_id: UUID) -> str | None:
        found = self._known.get(team_id)
        if found is not None:
            self._known.move_to_end(team_id)
        return found

    def remember(self, team_id: UUID, workflow_id: str) -> None:
        self._known[team_id] = workflow_id
        self._known.move_to_end(team_id)
        while len(self._known) > _REMEMBERED:
            self._known.popitem(last=False)

    def __repr__(self) -> str:  # never the key
        return "WorkflowIds(<key>)" if self._key else "WorkflowIds(legacy)"


def workflow_ids_for(settings: Settings) -> WorkflowIds:
    """The deployment's names: keyed with ``LTFLOW_VIEW_ID_KEY`` (or the data dir's
    ``view.id.key``), else the old names only."""
    from ltflow.projections.cross_team import MissingViewIdKeyError, view_ids_for

    try:
        ids = view_ids_for(settings)
    except MissingViewIdKeyError:
        return WorkflowIds(None)
    return WorkflowIds(ids.derive(b"workflow ids"))
