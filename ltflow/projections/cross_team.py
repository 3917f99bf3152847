"""What the views across teams (library, trends, actions, deadlines) show of a team, and to whom.

A team id is uuid5 of the case reference under a namespace anyone can read in the source, and
incident numbers are guessable, so a team id shown outside the team leads back to its case.
These views therefore name a team by a **view id** of its own: HMAC-SHA256 of the team id
under a per-deployment key (:class:`ViewIds`), which nobody without the key can compute from a
case number. It is computed when asked, never stored, so it is the same after every rebuild and
changes with the key.

Who sees more is the access policy's :func:`~ltflow.access.policy.sight`, judged per team from
the roles the rows keep (:func:`roles_doc`): inside the team (and auditors) the team's id,
case reference and title; people by name only where the policy shows staff by name
(:class:`Seen`). A viewer with :attr:`~ltflow.access.policy.Sight.NONE` does not see the team's
entries at all.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

from ltflow.access.policy import Sight, TeamRoles, Viewer, sight
from ltflow.access.views import roles_of_view
from ltflow.privacy.keyring import load_or_create_key_file

if TYPE_CHECKING:
    from ltflow.config import Settings
    from ltflow.projections.team_models import TeamDetailView

__all__ = ["MissingViewIdKeyError", "Seen", "TeamsSeen", "ViewIds", "roles_doc", "view_ids_for"]

#: Domain separation: the key may serve nothing else, and a later form gets its own label.
_LABEL = b"ltflow view id v1\x00"
#: 120 bits: 24 base32 characters without padding; no collision among any realistic count.
_ID_BYTES = 15
KEY_SETTING = "LTFLOW_VIEW_ID_KEY"


class MissingViewIdKeyError(ValueError):
    """No view id key is configured: the API does not start (it never makes a key of its own)."""


class ViewIds:
    """The opaque ids of teams in the cross-team views of one deployment."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError(f"{KEY_SETTING} must be 32 bytes (base64 of 256 random bits).")
        self._key = key

    def of(self, team_id: UUID | str) -> str:
        """The view id of a team: 24 lowercase base32 characters, not a UUID's shape."""
        raw = UUID(str(team_id)).bytes
        digest = hmac.digest(self._key, _LABEL + raw, "sha256")[:_ID_BYTES]
        return base64.b32encode(digest).decode().lower()

    def derive(self, label: bytes) -> bytes:
        """A key of its own for another use of the same deployment secret (workflow ids)."""
        return hmac.digest(self._key, b"ltflow derive\x00" + label, "sha256")

    def __repr__(self) -> str:  # never the key
        return "ViewIds(<key>)"


def parse_view_id_key(text: str, where: str = KEY_SETTING) -> bytes:
    """The key from its base64 text; ``ValueError`` naming ``where`` when it is not one."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError(f"{where} must be base64 of 32 random bytes.")
    return key


def view_ids_for(settings: Settings, *, create: bool = False) -> ViewIds:
    """The deployment's :class:`ViewIds`: ``LTFLOW_VIEW_ID_KEY``, else the data dir's
    ``view.id.key`` (``create``: made if missing, for ``ltflow dev`` and ``ltflow demo`` only).
    Neither: :class:`MissingViewIdKeyError`, a sentence for the operator."""
    if settings.view_id_key:
        return ViewIds(parse_view_id_key(settings.view_id_key))
    path = settings.view_id_key_file
    if create:
        load_or_create_key_file(path)
    if path.exists():
        return ViewIds(parse_view_id_key(path.read_text(), str(path)))
    raise MissingViewIdKeyError(
        f"{KEY_SETTING} is not set, and {path} was not made by 'ltflow dev' or 'ltflow demo': "
        "the views across teams need it to name teams by an id nobody can compute from a case "
        "number. Set it to base64 of 32 random bytes, the same for every API process of this "
        'deployment (python -c "import base64, os; print(base64.b64encode(os.urandom(32))'
        '.decode())").'
    )


# --- who sees what of which team ------------------------------------------------------------


def roles_doc(view: TeamDetailView) -> str:
    """The team's roles as a view row keeps them, so a listing is judged without the fold."""
    roles = roles_of_view(view)
    return json.dumps(
        {
            "facilitators": sorted(roles.facilitators),
            "participants": dict(sorted(roles.participants.items())),
            "relations": dict(sorted(roles.relations.items())),
            "sponsor": roles.sponsor,
            "owners": sorted(roles.owners),
        },
        separators=(",", ":"),
    )


def roles_from_doc(doc: str) -> TeamRoles:
    data = json.loads(doc)
    return TeamRoles(
        facilitators=frozenset(data["facilitators"]),
        participants=dict(data["participants"]),
        relations=dict(data["relations"]),
        sponsor=data["sponsor"],
        owners=frozenset(data["owners"]),
    )


#: Inside the team: its id, case reference and title are shown.
_INSIDE = frozenset({Sight.TEAM, Sight.TEAM_BY_ROLE, Sight.AUDIT})
#: Staff by name (a patient or family participant sees them by role, as outside the team).
_BY_NAME = frozenset({Sight.TEAM, Sight.AUDIT})


@dataclass(frozen=True)
class Seen:
    """What one viewer sees of one team in a view across teams."""

    view_id: str
    sight: Sight

    @property
    def listed(self) -> bool:
        """The team's entries show at all."""
        return self.sight is not Sight.NONE

    @property
    def inside(self) -> bool:
        """The team's id, case reference and title show."""
        return self.sight in _INSIDE

    @property
    def names(self) -> bool:
        """Its people (owners, facilitators) show by name."""
        return self.sight in _BY_NAME


@dataclass
class TeamsSeen:
    """One viewer's sight of the teams of one listing (each team judged once)."""

    viewer: Viewer
    ids: ViewIds
    _seen: dict[str, Seen] = field(default_factory=dict)

    def seen(self, team_id: str, roles: str) -> Seen:
        """How ``viewer`` sees the team with id ``team_id`` and stored ``roles``."""
        found = self._seen.get(team_id)
        if found is None:
            found = Seen(self.ids.of(team_id), sight(self.viewer, roles_from_doc(roles)))
            self._seen[team_id] = found
        return found
