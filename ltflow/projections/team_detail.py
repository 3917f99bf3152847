"""Team detail: the fold of one team's stored events, and the view table that keeps it.

:func:`fold_team_detail` is pure (no clock, no I/O) and is the one interpretation of the events
that every read model derives from; the HTTP API shows it and the audit compares the stored view
with a fresh fold of a team's events. :func:`apply_event` folds one more event in place.

The fold keeps personal fields as the event store holds them: encrypted with each participant's
key. The stored view is no more readable than the events, and an erasure (a deleted key) takes
effect in it at once; readers decrypt with :func:`read_team_detail`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ltflow.aggregates.vocabulary import ENCRYPTED_PREFIX, Policy
from ltflow.eventstore.decode import TeamEvent
from ltflow.privacy.fields import BatchKeys, decrypt_personal, is_encrypted
from ltflow.privacy.keys import KeyStore
from ltflow.projections.base import ProjectionError, Row, Table, TeamProjection, iso
from ltflow.projections.team_fold import STEPS
from ltflow.projections.team_models import TeamDetailView

if TYPE_CHECKING:
    from ltflow.projections.store import ViewStore

__all__ = [
    "TeamDetailView",
    "apply_event",
    "fold_team_detail",
    "get_team_detail",
    "open_view",
    "read_team_detail",
]


def fold_team_detail(events: Iterable[TeamEvent]) -> TeamDetailView:
    """The team detail after ``events`` (one team's stored events, in version order)."""
    view: TeamDetailView | None = None
    for event in events:
        view = apply_event(view, event)
    if view is None:
        raise ProjectionError("A team's history must start with team.convened.")
    return view


def apply_event(view: TeamDetailView | None, event: TeamEvent) -> TeamDetailView:
    """Fold one stored event into ``view`` (changed in place) and return it.

    Event types this code does not know yet are skipped (they still count as a version), so an
    older projection never breaks on a newer log; a new type is a code change and so a rebuild.
    """
    if event.TYPE == "team.convened":
        return _convened(event)
    if view is None:
        raise ProjectionError(
            f"Event {event.TYPE} v{event.originator_version} of team {event.originator_id} "
            "arrived before team.convened; the team detail view is incomplete."
        )
    handler = STEPS.get(event.TYPE)
    if handler is not None:
        handler(view, event.payload, event.occurred_at)
    # The two fields every event moves, written straight into the instance: pydantic's
    # __setattr__ (no validation here either) cost a microsecond each on every event of a
    # catch-up. Both are set at construction, so the model's fields-set stays as it was.
    fields = view.__dict__
    fields["version"] = event.originator_version
    if event.occurred_at > fields["updated_at"]:
        fields["updated_at"] = event.occurred_at
    return view


def _convened(event: TeamEvent) -> TeamDetailView:
    p = event.payload
    return TeamDetailView(
        team_id=event.originator_id,
        case_ref=p["case_ref"],
        title=p["title"],
        trigger=p["trigger"],
        theme=p.get("theme"),
        goal=p["goal"],
        scope=p["scope"],
        facilitator=p["facilitator"],
        facilitator_ids=[p["facilitator_id"]] if p.get("facilitator_id") else [],
        policy=Policy.model_validate(p.get("policy") or {}),
        version=event.originator_version,
        convened_at=event.occurred_at,
        updated_at=event.occurred_at,
    )


# --- storage ------------------------------------------------------------------------------

TABLE = Table(
    name="team_detail",
    columns=(
        ("team_id", "TEXT"),
        ("case_ref", "TEXT"),
        ("version", "INTEGER"),
        ("updated_at", "TEXT"),
        ("doc", "TEXT"),
    ),
    key=("team_id",),
    indexes=(("case_ref",),),
)


def detail_rows(view: TeamDetailView) -> list[Row]:
    """The stored form of the fold: one row whose ``doc`` is the view as JSON."""
    return [(view.key, view.case_ref, view.version, iso(view.updated_at), dump(view))]


def dump(view: TeamDetailView) -> str:
    return view.model_dump_json()


def load(doc: str | bytes) -> TeamDetailView:
    return TeamDetailView.model_validate_json(doc)


PROJECTION = TeamProjection(
    name="team_detail",
    table=TABLE,
    rows=detail_rows,
    description="one team as its facilitator sees it (the fold every other view derives from)",
    depends_on=("ltflow.projections.team_fold", "ltflow.projections.team_models"),
)


def get_team_detail_json(store: ViewStore, team_id: UUID) -> str | None:
    """The stored view of one team as JSON (ready to serve), or None if there is no such team."""
    with store.read() as tx:
        row = tx.fetchone(
            f"SELECT doc FROM {store.table(TABLE)} WHERE team_id = ?", (str(team_id),)
        )
    return None if row is None else str(row[0])


def get_team_detail(store: ViewStore, team_id: UUID) -> TeamDetailView | None:
    """The stored view of one team, or None if there is no such team; its personal fields as
    stored (encrypted: :func:`read_team_detail` decrypts them)."""
    doc = get_team_detail_json(store, team_id)
    return None if doc is None else load(doc)


# --- reading personal fields --------------------------------------------------------------------

#: Where the view keeps personal fields: (list, attribute, the field's name in its event).
_PERSONAL: tuple[tuple[str, str, str], ...] = (
    ("participants", "display_name", "display_name"),
    ("participants", "withdrawal_reason", "reason"),
    ("perspectives", "perspective", "perspective"),
    ("reflection_notes", "note", "note"),
)


def open_view(
    view: TeamDetailView, keys: KeyStore | None, lists: Iterable[str] | None = None
) -> TeamDetailView:
    """A copy of ``view`` with its personal fields decrypted with the participants' keys
    (``[erased]`` once a key is gone); ``view`` itself stays as stored. ``lists``: only the
    personal fields in these lists of the view (``participants``, ``perspectives``,
    ``reflection_notes``). Without keys (an event store without crypto-shredding) the view is
    returned as it is."""
    if keys is None:
        return view
    wanted = None if lists is None else set(lists)
    batch: BatchKeys | None = None  # made, and the team's keys fetched, at the first need
    changed: dict[str, list[Any]] = {}
    for name, attribute, field in _PERSONAL:
        if wanted is not None and name not in wanted:
            continue
        items = changed.get(name) or list(getattr(view, name))
        for i, item in enumerate(items):
            value = getattr(item, attribute)
            if not is_encrypted(value):
                continue
            if batch is None:
                batch = BatchKeys(keys)
                batch.prefetch([view.team_id])
            plain = decrypt_personal(batch, view.team_id, item.participant_id, field, value)
            items[i] = item.model_copy(update={attribute: plain})
            changed[name] = items
    return view.model_copy(update=changed) if changed else view


def open_detail_json(doc: str, keys: KeyStore | None) -> str:
    """A stored view's JSON with its personal fields decrypted (:func:`open_view`)."""
    if keys is None or ENCRYPTED_PREFIX not in doc:
        return doc
    return dump(open_view(load(doc), keys))


def read_team_detail(
    store: ViewStore, team_id: UUID, keys: KeyStore | None
) -> TeamDetailView | None:
    """One team as readers see it: the stored view with its personal fields decrypted (an
    erased participant's read ``[erased]`` at once, with no rebuild), or None."""
    view = get_team_detail(store, team_id)
    return None if view is None else open_view(view, keys)


class OpenedRowsError(ProjectionError):
    """A read model failed on a fold with decrypted personal fields (the message withheld)."""


def _infrastructure(exc: Exception) -> bool:
    from ltflow.projections.poison import NOT_POISON  # poison imports this module

    return isinstance(exc, NOT_POISON)


def opened(projection: TeamProjection, keys: KeyStore | None) -> TeamProjection:
    """``projection`` as the runner uses it: one whose rows need personal fields in plaintext
    (``personal``: in which lists of the fold) derives them from the fold with those decrypted
    with ``keys``, looked up afresh for each team's rows (an erasure shows at the next rows it
    derives). Same code version."""
    if not projection.personal or keys is None:
        return projection
    rows, lists = projection.rows, projection.personal

    def opened_rows(view: TeamDetailView) -> list[Row]:
        if not projection.opens(view):
            return rows(view)
        opened_view = open_view(view, keys, lists)
        try:
            return rows(opened_view)
        except Exception as exc:
            if _infrastructure(exc):
                raise
            # Its message may quote a decrypted text, which the quarantine record's redaction
            # (it knows the texts of the encrypted fold) would not find: the message stays out.
            withheld = OpenedRowsError(
                f"{type(exc).__name__} while deriving rows from decrypted personal fields "
                "(its message is withheld)"
            )
            raise withheld.with_traceback(exc.__traceback__) from None

    functools.update_wrapper(opened_rows, rows)
    return dataclasses.replace(projection, rows=opened_rows)
