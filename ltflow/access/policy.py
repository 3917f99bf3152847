"""Who may send what to a team, and what of a team they may see: the one access policy.

Pure (no clock, no I/O, no configuration): for a :class:`Viewer` (an authenticated caller) and a
team's roles (:class:`TeamRoles`, from the team's own events) it answers

- :func:`check_convene` / :func:`check_send`: may this viewer send this event (else
  ``forbidden`` with a sentence naming the role that would be needed; a person who may not see
  the team at all gets ``team_not_found``, exactly as for a team that does not exist);
- :func:`sight`: how much of the team they see (:class:`Sight`).

The defaults follow the method (``docs/access.md`` has the table):

- the **team** (its facilitators and participants) sees the team's perspectives and reflection
  notes: it heard them in session 1. Participants who are patients or family see the staff by
  role, never by name;
- **outside the team** (the sponsor, owners of safety nets, quality officers, services reading
  with ``teams:read``) a perspective or reflection note shows only with its teller's consent,
  and people show by role;
- a **participant** sends their own perspective, reflection notes, consent and withdrawal, and
  only as themselves; the facilitator sends everything else (also on behalf of a participant
  without an account);
- **auditors** and **privacy officers** see everything, and every read is logged;
- **erasure** needs the ``participants:erase`` scope or the ``privacy_officer`` role, and a
  reason; **abandoning** a team needs the ``teams:abandon`` scope (services), or to be its
  facilitator or a quality officer.

The workflow's validator asks :func:`check_send` with the team's state, so a forbidden event is
refused before anything is stored, by every door; the routes ask :func:`sight` of the read model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ltflow.aggregates import vocabulary as v
from ltflow.aggregates.errors import ForbiddenError, InvalidEventError, TeamNotFoundError
from ltflow.aggregates.state import TeamState

# --- scopes (what a token may do at all) and organisation roles (who a person is) -----------

EVENTS_WRITE = "events:write"
TEAMS_READ = "teams:read"
AUDIT_READ = "audit:read"
PARTICIPANTS_ERASE = "participants:erase"
TEAMS_ABANDON = "teams:abandon"
SCOPES = frozenset({EVENTS_WRITE, TEAMS_READ, AUDIT_READ, PARTICIPANTS_ERASE, TEAMS_ABANDON})


class OrgRole(StrEnum):
    """Roles in the organisation, from the identity provider's claims or configuration."""

    QUALITY_OFFICER = "quality_officer"
    AUDITOR = "auditor"
    PRIVACY_OFFICER = "privacy_officer"
    #: A trained facilitator: may open teams (and facilitates those they open).
    FACILITATOR = "facilitator"
    SERVICE = "service"


ORG_ROLES = frozenset(r.value for r in OrgRole)
_SEES_ALL = frozenset({OrgRole.AUDITOR.value, OrgRole.PRIVACY_OFFICER.value})
_CONVENERS = frozenset({OrgRole.FACILITATOR.value, OrgRole.QUALITY_OFFICER.value})


class Viewer(BaseModel):
    """An authenticated caller, as the policy sees them (it crosses into the workflow)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The actor stored with their events: a service's configured actor, a person's subject.
    subject: str
    kind: Literal["service", "person"] = "service"
    #: Organisation roles (:class:`OrgRole` values).
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()

    @property
    def is_person(self) -> bool:
        return self.kind == "person"


# --- a team's roles, from its own events ------------------------------------------------------


class Standing(StrEnum):
    """Where a person stands to one team."""

    FACILITATOR = "facilitator"
    PARTICIPANT = "participant"
    SPONSOR = "sponsor"
    OWNER = "owner"


@dataclass(frozen=True)
class TeamRoles:
    """Who holds which role in one team, by identity (stable subjects only)."""

    facilitators: frozenset[str] = frozenset()
    #: subject -> participant id (participants bound to an identity; erased ones are not).
    participants: Mapping[str, str] = field(default_factory=dict)
    #: participant id -> relation, for participants who are not staff.
    relations: Mapping[str, str] = field(default_factory=dict)
    sponsor: str | None = None
    owners: frozenset[str] = frozenset()

    @classmethod
    def of_state(cls, state: TeamState) -> TeamRoles:
        return cls(
            facilitators=frozenset(state.facilitator_ids),
            participants={sub: pid for pid, sub in state.subjects.items()},
            relations=dict(state.relations),
            sponsor=state.sponsor_id,
            owners=frozenset(state.owner_ids.values()),
        )

    def standing(self, subject: str) -> frozenset[Standing]:
        found: set[Standing] = set()
        if subject in self.facilitators:
            found.add(Standing.FACILITATOR)
        if subject in self.participants:
            found.add(Standing.PARTICIPANT)
        if subject == self.sponsor:
            found.add(Standing.SPONSOR)
        if subject in self.owners:
            found.add(Standing.OWNER)
        return frozenset(found)

    def participant_id(self, subject: str) -> str | None:
        return self.participants.get(subject)


# --- what a viewer sees -------------------------------------------------------------------------


class Sight(StrEnum):
    """How much of one team a viewer sees."""

    #: Nothing, not even that the team exists (answered as an unknown team, 404).
    NONE = "none"
    #: The team's work; perspectives and notes only with their teller's consent; people by role.
    OUTSIDE = "outside"
    #: Everything the team heard, but the staff by role (a patient or family participant).
    TEAM_BY_ROLE = "team_by_role"
    #: Everything the team heard in its sessions.
    TEAM = "team"
    #: Everything, each read logged (auditors, privacy officers).
    AUDIT = "audit"


def sight(viewer: Viewer, roles: TeamRoles) -> Sight:
    """How much of the team ``viewer`` sees."""
    if not viewer.is_person:
        if AUDIT_READ in viewer.scopes or viewer.roles & _SEES_ALL:
            return Sight.AUDIT
        return Sight.OUTSIDE if TEAMS_READ in viewer.scopes else Sight.NONE
    if viewer.roles & _SEES_ALL:
        return Sight.AUDIT
    standing = roles.standing(viewer.subject)
    if Standing.FACILITATOR in standing:
        return Sight.TEAM
    if Standing.PARTICIPANT in standing:
        pid = roles.participant_id(viewer.subject)
        by_role = roles.relations.get(pid or "") in ("patient", "family")
        return Sight.TEAM_BY_ROLE if by_role else Sight.TEAM
    if standing or OrgRole.QUALITY_OFFICER.value in viewer.roles:
        return Sight.OUTSIDE
    return Sight.NONE


def may_list_all(viewer: Viewer) -> bool:
    """Whether the viewer sees every team without asking each one (services, quality officers,
    auditors); other persons see the teams they stand in."""
    return not viewer.is_person or bool(
        viewer.roles & (_SEES_ALL | {OrgRole.QUALITY_OFFICER.value})
    )


# --- what a viewer may send ---------------------------------------------------------------------

#: What a participant sends for themselves.
OWN_INPUT: frozenset[str] = frozenset(
    {
        v.PerspectiveShared.TYPE,
        v.ReflectionNoted.TYPE,
        v.ConsentChanged.TYPE,
        v.ParticipantWithdrawn.TYPE,
    }
)
#: What a quality officer may send to a team they do not facilitate (its facilitator left).
_QUALITY_OFFICER_SENDS: frozenset[str] = frozenset(
    {v.TeamAbandoned.TYPE, v.FacilitatorHandedOver.TYPE, v.SponsorAssigned.TYPE}
)


def check_convene(viewer: Viewer, convene: v.TeamConvened) -> None:
    """Services with ``events:write`` open teams; a person needs the organisation role
    ``facilitator`` or ``quality_officer``."""
    if viewer.is_person and not viewer.roles & _CONVENERS:
        raise ForbiddenError(
            "Opening a Learning Team needs the organisation role 'facilitator' or "
            "'quality_officer'.",
            needed_roles=sorted(_CONVENERS),
        )


def check_send(viewer: Viewer, roles: TeamRoles, event: v.Command, team_id: object) -> None:
    """Raise unless ``viewer`` may send ``event`` to the team with these roles."""
    if isinstance(event, v.ParticipantErased):
        _check_erasure(viewer, event)
        return
    if not viewer.is_person:
        if isinstance(event, v.TeamAbandoned) and TEAMS_ABANDON not in viewer.scopes:
            raise ForbiddenError(
                f"Abandoning a team needs the scope '{TEAMS_ABANDON}'; the token of "
                f"'{viewer.subject}' lacks it.",
                required_scope=TEAMS_ABANDON,
            )
        return
    if sight(viewer, roles) is Sight.NONE:
        # Outside the team an unknown team and a forbidden one answer the same.
        raise TeamNotFoundError(f"No Learning Team with id {team_id}.", team_id=str(team_id))
    standing = roles.standing(viewer.subject)
    if Standing.FACILITATOR in standing:
        return
    if event.type in _QUALITY_OFFICER_SENDS and OrgRole.QUALITY_OFFICER.value in viewer.roles:
        return
    own = roles.participant_id(viewer.subject)
    if own is not None and event.type in OWN_INPUT:
        told_for = getattr(event, "participant_id", None)
        if told_for != own:
            raise ForbiddenError(
                f"A participant writes only as themselves ('{own}'); writing for "
                f"'{told_for}' needs the team's facilitator.",
                needed_role=Standing.FACILITATOR.value,
            )
        return
    if own is not None:
        what = "a participant sends their own perspective, reflection notes, consent or withdrawal"
    elif Standing.SPONSOR in standing:
        what = "a sponsor gives the team room and receives its escalations, but sends no events"
    else:
        what = "you hold no role in this team that sends it"
    raise ForbiddenError(
        f"'{event.type}' needs the team's facilitator; {what}.",
        needed_role=Standing.FACILITATOR.value,
        type=event.type,
    )


def _check_erasure(viewer: Viewer, event: v.ParticipantErased) -> None:
    if PARTICIPANTS_ERASE not in viewer.scopes and (
        OrgRole.PRIVACY_OFFICER.value not in viewer.roles
    ):
        raise ForbiddenError(
            f"Erasing a participant needs the scope '{PARTICIPANTS_ERASE}' or the organisation "
            "role 'privacy_officer'.",
            required_scope=PARTICIPANTS_ERASE,
            needed_roles=[OrgRole.PRIVACY_OFFICER.value],
        )
    if not event.reason:
        raise InvalidEventError(
            "An erasure needs a reason (the field 'reason'): it stays in the record.",
            problems=[{"field": "reason", "problem": "required for an erasure"}],
        )
