"""The event-sourced application: commands by team id, idempotent, safe under concurrency.

This is the only place that loads and saves ``LearningTeam`` aggregates. Temporal activities, the
command line and tests all come through here, so the record is written one way only.
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper, Transcoder
from pydantic import BaseModel

from ltflow.aggregates import rules
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.bounds import check_policy_floor
from ltflow.aggregates.errors import TeamNotFoundError, VersionConflictError
from ltflow.aggregates.learning_team import LearningTeam
from ltflow.aggregates.state import Processed, TeamState, TeamSummary, root_event_id, summarize
from ltflow.config import Settings
from ltflow.eventstore.macs import recorder_topic
from ltflow.privacy.fields import ShreddingMapper, check_encrypted_fields
from ltflow.privacy.keyring import load_or_create_key_file, parse_keys
from ltflow.privacy.keys import KeyStore, key_store_for
from ltflow.store.sqlite import private_file
from ltflow.store.transcoder import FastJSONTranscoder

#: Team ids are uuid5 of the case_ref in this namespace, so every node derives the same id.
TEAM_NAMESPACE = UUID("6f0f7c1e-4b8e-5d2a-9c53-1d7a1e7b2f10")
_LOCK_STRIPES = 64


def event_mac_key(settings: Settings) -> bytes:
    """The key of the stored events' MACs: configured, or the data dir's key file."""
    if settings.event_mac_key:
        return parse_keys(settings.event_mac_key)[0]
    return load_or_create_key_file(settings.event_mac_key_file)[0]


def team_id_for(case_ref: str) -> UUID:
    """The team id of a case: deterministic, so opening a case twice finds the same team."""
    return uuid5(TEAM_NAMESPACE, case_ref)


class RecordResult(BaseModel):
    """The answer to one command: the summary after it, and whether it was a repeat."""

    summary: TeamSummary
    duplicate: bool = False
    #: Versions stored by this call (empty for a repeat).
    recorded_versions: list[int] = []
    #: The team's state after the call, without its seen event ids (:func:`lean_state`).
    state: TeamState | None = None
    #: What the event's id is now recorded as (its digest, the version of its answer).
    seen: Processed | None = None


def lean_state(state: TeamState) -> TeamState:
    """A copy of ``state`` without the seen event ids, which grow with the case (a dump and a
    validation: five times cheaper than a deep copy)."""
    return TeamState.model_validate(state.model_dump(exclude={"processed"}))


class StoredFact(BaseModel):
    """One stored event as an auditor reads it."""

    team_id: UUID
    version: int
    type: str
    event_id: str
    actor: str
    occurred_at: datetime
    recorded_at: datetime
    payload: dict[str, Any]


class LearningTeams(Application[UUID]):
    """All Learning Teams, in one event store (SQLite by default, PostgreSQL by configuration)."""

    name = "LearningTeams"
    # The cache hands out the cached aggregate itself, not a deep copy: copying a long case's
    # state on every command grew with its length (10 ms at 300 events). Commands on one team
    # are serialized by a lock instead, and a failed command evicts what it touched.
    env = {"AGGREGATE_CACHE_MAXSIZE": "1000", "DEEPCOPY_FROM_AGGREGATE_CACHE": "n"}

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        keys: KeyStore | None = None,
        mac_key: bytes | None = None,
    ) -> None:
        """``mac_key``: the key of each stored event's MAC (:mod:`ltflow.eventstore.macs`; the
        recorder must be one that writes them); None: no MACs."""
        #: Participant keys for crypto-shredding; None stores personal fields under the
        #: event store's own protection only.
        self.keys = keys
        self.mac_key = mac_key
        super().__init__(env)
        if mac_key is not None:
            if not hasattr(self.recorder, "mac_key"):
                raise TypeError(f"{type(self.recorder).__name__} does not store event MACs.")
            self.recorder.mac_key = mac_key
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def construct_transcoder(self) -> Transcoder:
        if self.env.get("TRANSCODER_TOPIC"):
            return super().construct_transcoder()
        transcoder = FastJSONTranscoder()  # the library's format, read faster
        self.register_transcodings(transcoder)
        return transcoder

    def construct_mapper(self) -> Mapper[UUID]:
        if self.keys is None:
            return super().construct_mapper()
        return ShreddingMapper(
            transcoder=self.construct_transcoder(),
            cipher=self.factory.cipher(),
            compressor=self.factory.compressor(),
            keys=self.keys,
        )

    def close(self) -> None:
        super().close()
        if self.keys is not None:
            self.keys.close()

    @classmethod
    def from_settings(cls, settings: Settings) -> LearningTeams:
        if settings.event_store == "sqlite" and "SQLITE_DBNAME" not in settings.event_store_env:
            Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
            private_file(settings.sqlite_path)  # mode 600, like every file ltflow makes
        env = settings.eventsourcing_env()
        if settings.encrypt_at_rest or settings.event_keys:
            keys = settings.event_keys or ",".join(
                base64.b64encode(k).decode()
                for k in load_or_create_key_file(settings.event_key_file)
            )
            env["CIPHER_TOPIC"] = "ltflow.privacy.at_rest:RotatingAESCipher"
            env["CIPHER_KEY"] = keys
        env.setdefault("APPLICATION_RECORDER_TOPIC", recorder_topic(settings.event_store))
        return cls(env=env, keys=key_store_for(settings), mac_key=event_mac_key(settings))

    # --- commands -------------------------------------------------------------------------

    def convene(
        self,
        cmd: c.TeamConvened,
        *,
        actor: str,
        received_at: datetime,
        policy_floor: timedelta | None = None,
    ) -> RecordResult:
        """Open a team for ``cmd.case_ref``; the same content again returns the existing team.

        ``policy_floor`` is the deployment's shortest policy duration, judged for a new team only
        (a repeat answers with the team as it was opened)."""
        team_id = team_id_for(cmd.case_ref)
        with self._lock(team_id):
            existing = self._get_or_none(team_id)
            if existing is not None:
                rules.check_convene_repeat(existing.state, cmd)
                return RecordResult(summary=summarize(existing.state), duplicate=True)
            if policy_floor is not None:
                check_policy_floor(cmd.policy, policy_floor)
            occurred_at = cmd.occurred_at or received_at
            rules.check_occurred_at(None, occurred_at, received_at)
            team = LearningTeam.convene(cmd, team_id=team_id, actor=actor, occurred_at=occurred_at)
            try:
                recordings = self.save(team)
            except IntegrityError:
                conflict = True
            else:
                conflict = False
        if conflict:
            # Someone opened the same case at the same moment: same content is the same team.
            return self.convene(
                cmd, actor=actor, received_at=received_at, policy_floor=policy_floor
            )
        return RecordResult(
            summary=summarize(team.state),
            recorded_versions=[r.domain_event.originator_version for r in recordings],
        )

    def record(
        self,
        team_id: UUID,
        cmd: c.Command,
        *,
        actor: str,
        received_at: datetime,
        expected_version: int | None = None,
    ) -> RecordResult:
        """Judge and store one phase event; a repeat of its ``event_id`` returns the first answer.

        ``expected_version``, when given, is the version the caller believes the team is at: if
        someone else wrote in between, this raises :class:`VersionConflictError` and stores nothing.
        """
        with self._lock(team_id):
            team = self._get(team_id)
            seen = rules.check_idempotency(team.state, cmd)
            if seen is not None:
                self._after_record(team_id, cmd)  # finish what a crashed first try began
                return self._repeat(team_id, seen)
            if expected_version is not None and team.version != expected_version:
                raise VersionConflictError(
                    f"The team is at version {team.version}, not {expected_version}; "
                    "reload it and try again.",
                    version=team.version,
                    expected_version=expected_version,
                )
            occurred_at = cmd.occurred_at or received_at
            rules.check_occurred_at(team.state, occurred_at, received_at)
            check_encrypted_fields(self.keys, team_id, cmd)
            try:
                team.handle(cmd, actor=actor, occurred_at=occurred_at)
                recordings = self.save(team)
            except IntegrityError:
                self._evict(team_id)
                return self._after_conflict(team_id, cmd, team.state.version)
            except BaseException:
                self._evict(team_id)
                raise
            self._after_record(team_id, cmd)
            return RecordResult(
                summary=summarize(team.state),
                recorded_versions=[r.domain_event.originator_version for r in recordings],
                state=lean_state(team.state),
                seen=team.state.processed.get(root_event_id(cmd.event_id)),
            )

    def _repeat(self, team_id: UUID, seen: Processed) -> RecordResult:
        """The first answer to a repeated event, and the state as it is now."""
        first = self.summary(team_id, version=seen.version)
        now = self._get(team_id).state
        return RecordResult(summary=first, duplicate=True, state=lean_state(now), seen=seen)

    def _after_record(self, team_id: UUID, cmd: c.Command) -> None:
        # The erasure is stored first, then the key is shredded; a retry shreds again.
        if isinstance(cmd, c.ParticipantErased) and self.keys is not None:
            self.keys.delete(team_id, cmd.participant_id)
            self._evict(team_id)

    def _after_conflict(self, team_id: UUID, cmd: c.Command, version: int) -> RecordResult:
        # A retry of our own write that raced us has stored the event already: that is the
        # answer. Anything else is a real concurrent write, and the caller must decide again.
        team = self._get(team_id)
        seen = rules.check_idempotency(team.state, cmd)
        if seen is not None:
            return self._repeat(team_id, seen)
        raise VersionConflictError(
            f"Another event was recorded for this team at the same moment (now at version "
            f"{team.version}); nothing was stored, send the event again.",
            version=team.version,
        )

    # --- queries --------------------------------------------------------------------------

    def state(self, team_id: UUID, version: int | None = None) -> TeamState:
        """The rule state of a team, now or as it stood at ``version`` (a copy of it)."""
        with self._lock(team_id):
            return self._get(team_id, version).state.model_copy(deep=True)

    def summary(self, team_id: UUID, version: int | None = None) -> TeamSummary:
        return summarize(self._get(team_id, version).state)

    def exists(self, team_id: UUID) -> bool:
        return self._get_or_none(team_id) is not None

    def history(self, team_id: UUID) -> list[StoredFact]:
        """Every stored event of a team, in order."""
        facts = list(self._facts(team_id))
        if not facts:
            raise TeamNotFoundError(f"No Learning Team with id {team_id}.", team_id=str(team_id))
        return facts

    def _facts(self, team_id: UUID) -> Iterator[StoredFact]:
        from ltflow.eventstore.decode import EventDecoder
        from ltflow.store.events import event_rows

        rows = event_rows(self.recorder).team_rows([str(team_id)])
        for event in EventDecoder(self.mapper).decode(rows):
            assert event is not None  # a team's stream holds team events only
            yield StoredFact(
                team_id=team_id,
                version=event.originator_version,
                type=event.TYPE,
                event_id=event.event_id,
                actor=event.actor,
                occurred_at=event.occurred_at,
                recorded_at=event.timestamp,
                payload=event.payload,
            )

    def _lock(self, team_id: UUID) -> threading.Lock:
        return self._locks[team_id.int % _LOCK_STRIPES]

    def _evict(self, team_id: UUID) -> None:
        if self.repository.cache is not None:
            with contextlib.suppress(KeyError):
                self.repository.cache.get(team_id, evict=True)

    def _get(self, team_id: UUID, version: int | None = None) -> LearningTeam:
        team = self._get_or_none(team_id, version)
        if team is None:
            raise TeamNotFoundError(f"No Learning Team with id {team_id}.", team_id=str(team_id))
        return team

    def _get_or_none(self, team_id: UUID, version: int | None = None) -> LearningTeam | None:
        try:
            team: object = self.repository.get(team_id, version=version)
        except AggregateNotFoundError:
            return None
        assert isinstance(team, LearningTeam)
        return team
