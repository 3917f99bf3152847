"""The one decoder of stored events, into what ltflow's readers need.

Rows from :mod:`ltflow.store.events` are decoded exactly as the application's mapper decodes
them (its cipher and compressor, when configured, apply; an event stored under an older
``class_version`` goes through the mapper itself, so upcasting applies as it does for the
aggregate). Readers use a handful of fields, so :class:`EventDecoder` decodes those and nothing
more: one plain JSON decode and the two timestamps' conversion, instead of the transcoder's
per-object hook, whenever that gives the same values (see :meth:`EventDecoder.fields`). Encrypted
personal fields are decrypted with each team's keys, looked up once per batch
(:class:`~ltflow.privacy.BatchKeys`), unless the decoder is made with :func:`encrypted_mapper`
(the read models keep them encrypted); what the lean way cannot read goes through the mapper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder, Mapper, Notification
from eventsourcing.utils import resolve_topic

from ltflow.aggregates.learning_team import LearningTeam
from ltflow.aggregates.vocabulary import PERSONAL_FIELDS
from ltflow.privacy.fields import BatchKeys, ShreddingMapper
from ltflow.store.events import EventRow
from ltflow.store.transcoder import FastJSONTranscoder, has_float

_TEAM_EVENTS = (LearningTeam.Event, LearningTeam.TeamConvened)
#: A team event stores two transcoded values at its top level (``timestamp``, ``occurred_at``).
_TYPED = b'"_type_"'
_TOP_LEVEL_TYPED = 2


class TeamEvent(Protocol):
    """A stored team event as the fold reads it (``LearningTeam.Event`` and ``TeamConvened``,
    or the lean :class:`StoredTeamEvent` the decoder makes)."""

    @property
    def TYPE(self) -> str: ...
    @property
    def originator_id(self) -> Any: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...


class DecodedEvent(TeamEvent, Protocol):
    """A stored team event as readers take it: what the fold reads, the sender's event id and
    when ltflow recorded it (a :class:`StoredTeamEvent`, or the mapper's domain event)."""

    @property
    def event_id(self) -> str: ...
    @property
    def timestamp(self) -> datetime: ...


@dataclass(slots=True)
class StoredTeamEvent:
    """A stored team event with the fields readers use (a :class:`DecodedEvent`)."""

    TYPE: str
    originator_id: UUID
    originator_version: int
    occurred_at: datetime
    actor: str
    payload: dict[str, Any]
    event_id: str
    #: When ltflow recorded it.
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class _Kind:
    """What a topic names: a team event type (and its class version), or something else."""

    type: str | None
    class_version: int = 1
    #: Has encrypted personal fields (decrypted with the participant's key).
    personal: bool = False


def _decoding(mapper: Mapper[Any]) -> tuple[Mapper[Any], frozenset[str] | None]:
    """The mapper to decode with, and the event types only it may decode (None: every type).

    ltflow's :class:`~ltflow.privacy.ShreddingMapper` decrypts the personal fields of a
    few types and decodes every other type exactly as the library's own mapper does. The decoder
    reads every type the lean way and decrypts those fields itself; the mapper's twin for reading
    (:meth:`~ltflow.privacy.ShreddingMapper.reading`, with the same batch of keys) decodes what
    the lean way cannot.
    """
    if type(mapper.transcoder) not in (JSONTranscoder, FastJSONTranscoder):
        return mapper, None
    if type(mapper).to_domain_event is Mapper.to_domain_event:
        return mapper, frozenset()
    if type(mapper) is ShreddingMapper:
        return mapper.reading(), frozenset()
    return mapper, None


def encrypted_mapper(mapper: Mapper[Any]) -> Mapper[Any]:
    """``mapper`` without the decryption of personal fields: events decoded through it keep
    each personal field as stored (encrypted with its participant's key). The read models
    fold events this way (:meth:`~ltflow.privacy.ShreddingMapper.encrypted`)."""
    return mapper.encrypted() if isinstance(mapper, ShreddingMapper) else mapper


class EventDecoder:
    """Decodes stored events of one application, a batch at a time."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        transcoder = mapper.transcoder
        self._names = transcoder.names if isinstance(transcoder, JSONTranscoder) else {}
        #: Event types only the mapper may decode (None: all of them).
        self.mapper, self._via_mapper = _decoding(mapper)
        #: The batch's key lookups, when personal fields are encrypted.
        self._keys: BatchKeys | None = None
        if isinstance(self.mapper, ShreddingMapper) and isinstance(self.mapper.keys, BatchKeys):
            self._keys = self.mapper.keys
        self._kinds: dict[str, _Kind] = {}

    def decode(self, rows: Sequence[EventRow]) -> list[DecodedEvent | None]:
        """One batch of rows, decoded (None: not a team event). Keys are looked up afresh for
        each batch, so an erasure shows from the next batch on."""
        keys = self._keys
        if keys is not None:
            keys.forget()
        ids: dict[Any, UUID] = {}
        for row in rows:
            if row[1] not in ids:
                ids[row[1]] = row[1] if isinstance(row[1], UUID) else UUID(str(row[1]))
        if keys is not None:
            kinds = self._kinds
            personal = {
                ids[row[1]] for row in rows if (kinds.get(row[3]) or self._kind(row[3])).personal
            }
            keys.prefetch(list(personal))
        return [self._decode(row, ids[row[1]]) for row in rows]

    def _decode(self, row: EventRow, originator_id: UUID) -> DecodedEvent | None:
        kind = self._kinds.get(row[3]) or self._kind(row[3])
        type_ = kind.type
        if type_ is None:
            return None
        if self._via_mapper is not None and type_ not in self._via_mapper:
            fields = self.fields(row[4])
            # Exact when nothing below the top level was transcoded (so no object hook is
            # needed) and no upcast is due; anything else goes through the mapper.
            if fields is not None and fields.get("class_version", 1) == kind.class_version:
                lean = self._lean(type_, kind.personal, originator_id, row[2], fields)
                if lean is not None:
                    return lean
        notification = Notification(
            id=row[0],
            originator_id=originator_id,
            originator_version=row[2],
            topic=row[3],
            state=row[4],
        )
        return cast("DecodedEvent", self.mapper.to_domain_event(notification))

    def _lean(
        self, type_: str, personal: bool, originator_id: UUID, version: int, fields: dict[str, Any]
    ) -> StoredTeamEvent | None:
        """The event from its parsed fields (None: not the shape this reads; the mapper will)."""
        names = self._names
        try:
            occurred, recorded = fields["occurred_at"], fields["timestamp"]
            payload, actor, event_id = fields["payload"], fields["actor"], fields["event_id"]
            occurred_at = names[occurred["_type_"]].decode(occurred["_data_"])
            timestamp = names[recorded["_type_"]].decode(recorded["_data_"])
        except (KeyError, TypeError):
            return None
        if personal and self._keys is not None:
            self._keys.decrypt_payload(originator_id, type_, payload)
        return StoredTeamEvent(
            type_, originator_id, version, occurred_at, actor, payload, event_id, timestamp
        )

    def fields(self, state: bytes) -> dict[str, Any] | None:
        """The stored state's top-level fields, parsed plainly, where that is exact (None:
        only the mapper may read it)."""
        mapper = self.mapper
        if mapper.cipher is not None:
            state = mapper.cipher.decrypt(state)
        if mapper.compressor is not None:
            state = mapper.compressor.decompress(state)
        if state.count(_TYPED) != _TOP_LEVEL_TYPED:
            return None
        try:
            fields: dict[str, Any] = orjson.loads(state)
        except orjson.JSONDecodeError:  # NaN, or not JSON at all: the mapper reads (or reports) it
            return None
        payload = fields.get("payload")
        if type(payload) is not dict or has_float(payload):
            return None  # a float may be an integer orjson did not keep exact: the mapper reads it
        return fields

    def _kind(self, topic: str) -> _Kind:
        kind = self._kinds.get(topic)
        if kind is None:
            cls = resolve_topic(topic)
            kind = self._kinds[topic] = (
                _Kind(cls.TYPE, getattr(cls, "class_version", 1), cls.TYPE in PERSONAL_FIELDS)
                if isinstance(cls, type) and issubclass(cls, _TEAM_EVENTS)
                else _Kind(None)
            )
        return kind
