"""The Python client as a JSON-speaking sender uses it in these tests.

ltflow's :class:`~ltflow.workflows.client.LtflowClient` takes typed events; a sender holding JSON
parses it with the vocabulary's parser first, as the CLI and the HTTP API do. This subclass does
exactly that, so the tests can keep sending the narrative's JSON bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from ltflow.access.policy import Viewer
from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.state import TeamSummary
from ltflow.workflows.client import LtflowClient
from ltflow.workflows.payloads import OpenTeamResult


class JsonLtflowClient(LtflowClient):
    async def open_team_result(  # type: ignore[override]
        self, convene: v.TeamConvened | Mapping[str, Any], *, actor: str
    ) -> OpenTeamResult:
        if not isinstance(convene, v.TeamConvened):
            convene = v.parse_convene(dict(convene))
        return await super().open_team_result(convene, actor=actor)

    async def open_team(  # type: ignore[override]
        self, convene: v.TeamConvened | Mapping[str, Any], *, actor: str
    ) -> TeamSummary:
        return (await self.open_team_result(convene, actor=actor)).summary

    async def send(  # type: ignore[override]
        self,
        team_id: UUID,
        event: v.Command | Mapping[str, Any],
        *,
        actor: str,
        viewer: Viewer | None = None,
    ) -> TeamSummary:
        if not isinstance(event, v.Command):
            event = v.parse_sender_event(dict(event))
        return await super().send(team_id, event, actor=actor, viewer=viewer)
