"""A team's read model as one viewer may see it (the policy's :class:`Sight` applied).

The read model holds everything; what leaves for a viewer is :func:`shown`. A read that shows
anyone's personal input is logged (:func:`personal_subjects` says whose, for "who viewed my
input").
"""

from __future__ import annotations

from ltflow.access.policy import Sight, TeamRoles
from ltflow.aggregates.state import ERASED_FINGERPRINT as ERASED
from ltflow.projections.team_models import TeamDetailView

#: How a person is shown where the viewer may not see their name.
THE_FACILITATOR = "the facilitator"
THE_OWNER = "the owner"


def roles_of_view(view: TeamDetailView) -> TeamRoles:
    """The team's roles as its read model holds them."""
    return TeamRoles(
        facilitators=frozenset(view.facilitator_ids),
        # An erased participant's binding is gone from the fold (``participant.erased``).
        participants={p.subject: p.participant_id for p in view.participants if p.subject},
        relations={
            p.participant_id: p.relation for p in view.participants if p.relation != "staff"
        },
        sponsor=view.sponsor_id,
        owners=frozenset(n.owner_id for n in view.safety_nets if n.owner_id is not None),
    )


def shown(view: TeamDetailView, sight: Sight, *, own: str | None = None) -> TeamDetailView:
    """A copy of ``view`` with what ``sight`` does not show taken out. ``own`` is the viewer's
    own participant id (their own input is always theirs to see)."""
    if sight in (Sight.AUDIT, Sight.TEAM):
        return view
    out = view.model_copy(deep=True)
    if sight is Sight.NONE:  # never served; the caller answers 404
        raise ValueError("nothing of this team is shown to this viewer")
    out.facilitator_ids, out.sponsor_id = [], None
    for p in out.participants:
        p.subject = None
    if sight is Sight.TEAM_BY_ROLE:
        # Patients and family see the staff by role, never by name.
        out.facilitator, out.sponsor_name = THE_FACILITATOR, None
        for p in out.participants:
            if p.relation == "staff" and p.participant_id != own:
                p.display_name, p.withdrawal_reason = None, None
        for net in out.safety_nets:
            net.owner, net.owner_id = THE_OWNER, None
        return out
    # Outside the team: people by role, input only with its teller's consent.
    for p in out.participants:
        if p.participant_id != own:
            p.display_name, p.withdrawal_reason = None, None
    out.perspectives = [
        x for x in out.perspectives if x.consent_to_share or x.participant_id == own
    ]
    out.reflection_notes = [
        x for x in out.reflection_notes if x.consent_to_share or x.participant_id == own
    ]
    for net in out.safety_nets:
        net.owner_id = None
    return out


def personal_subjects(view: TeamDetailView) -> list[str]:
    """The participants whose personal input ``view`` shows (readable, not erased)."""
    shown_for: set[str] = set()
    for p in view.participants:
        if (p.display_name or p.withdrawal_reason) and ERASED not in (
            p.display_name,
            p.withdrawal_reason,
        ):
            shown_for.add(p.participant_id)
    for item in view.perspectives:
        if item.perspective != ERASED:
            shown_for.add(item.participant_id)
    for note in view.reflection_notes:
        if note.note != ERASED:
            shown_for.add(note.participant_id)
    return sorted(shown_for)
