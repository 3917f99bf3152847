"""The routes' side of the access policy: the caller as a :class:`Viewer`, and one team's read
model as they may see it (logged when it shows anyone's personal input)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from ltflow.access.policy import Sight, Viewer, sight
from ltflow.access.views import personal_subjects, roles_of_view, shown
from ltflow.aggregates.errors import TeamNotFoundError
from ltflow.api.auth import Principal, current_principal
from ltflow.api.context import ApiContext
from ltflow.api.errors import UnavailableError
from ltflow.audit.access_log import Accessor
from ltflow.projections.team_models import TeamDetailView


def viewer_of(principal: Principal) -> Viewer:
    """The authenticated caller, as the policy sees them."""
    return Viewer(
        subject=principal.actor,
        kind=principal.kind,
        roles=principal.roles,
        scopes=principal.scopes,
    )


def current_viewer(principal: Annotated[Principal, Depends(current_principal)]) -> Viewer:
    """Dependency: the caller as a :class:`Viewer`."""
    return viewer_of(principal)


def reader(
    principal: Annotated[Principal, Depends(current_principal)],
    x_on_behalf_of: Annotated[str | None, Header(max_length=200)] = None,
    x_access_reason: Annotated[str | None, Header(max_length=1000)] = None,
) -> Accessor:
    """Dependency: who reads, for the access log (NEN 7513: who, for whom, how, why)."""
    return Accessor(
        actor=principal.actor,
        on_behalf_of=x_on_behalf_of,
        channel="http",
        reason=x_access_reason,
    )


def unknown_team(team_id: object) -> TeamNotFoundError:
    """The answer for a team that does not exist, and for one the viewer may not see."""
    return TeamNotFoundError(f"No Learning Team with id {team_id}.", team_id=str(team_id))


def team_as_seen(
    ctx: ApiContext, view: TeamDetailView, viewer: Viewer, accessor: Accessor
) -> TeamDetailView:
    """``view`` as ``viewer`` may see it; a read that shows personal input is logged first (a
    read that cannot be logged fails). Unknown to this viewer: ``team_not_found``."""
    roles = roles_of_view(view)
    seen = sight(viewer, roles)
    if seen is Sight.NONE:
        raise unknown_team(view.team_id)
    own = roles.participant_id(viewer.subject) if viewer.is_person else None
    out = shown(view, seen, own=own)
    whose = personal_subjects(out)
    if whose or seen is Sight.AUDIT:
        if ctx.audit is None:
            raise UnavailableError(
                "This API has no access log, so it shows no one's personal input; "
                "run it with the audit service."
            )
        detail = {"participants": whose, "sight": seen.value, "version": view.version}
        ctx.audit.record_read(accessor, "team.read", view.team_id, detail)
    return out
