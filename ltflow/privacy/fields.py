"""Erasure by crypto-shredding: personal fields encrypted with a key per participant.

A participant's display name, perspectives, reflection notes and withdrawal reason are stored
encrypted (AES-256-GCM) under a key that belongs to that participant in that team, and so is the
content digest of those events (a digest of a short name could otherwise be guessed back).
Erasing a participant deletes the key: the stored bytes stay exactly as they were, so the audit
hash chain still verifies, but the fields read as ``[erased]`` everywhere from then on (event
store, read models, exports, Temporal histories). The key store is kept apart from the events,
with SQLite's ``secure_delete`` so a deleted key is overwritten on disk.

A sender's client encrypts the fields before the event enters Temporal
(:func:`encrypt_personal_fields`, deterministic so a retry is a repeat); the record checks that
they open with the participant's key (:func:`check_encrypted_fields`), and the mapper encrypts
only what is not encrypted yet. The read models keep them encrypted
(:meth:`ShreddingMapper.encrypted`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Mapper, StoredEvent

from ltflow.aggregates.errors import InvalidEventError, RuleViolatedError
from ltflow.aggregates.state import ERASED_FINGERPRINT
from ltflow.aggregates.vocabulary import ENCRYPTED_PREFIX, PERSONAL_FIELDS, Command
from ltflow.privacy.keys import KeyErasedError, KeyStore

ERASED = ERASED_FINGERPRINT
#: Marks a stored value as encrypted; in every stored event, so it never changes.
_PREFIX = ENCRYPTED_PREFIX
_NONCE = 12


def _aad(team_id: UUID, participant_id: str, field: str) -> bytes:
    return f"{team_id}/{participant_id}/{field}".encode()


def encrypt_field(key: bytes, value: str, aad: bytes) -> str:
    """``value`` encrypted under the participant's ``key``, as the stored text."""
    nonce = os.urandom(_NONCE)
    encrypted = AESGCM(key).encrypt(nonce, value.encode(), aad)
    return _PREFIX + base64.b64encode(nonce + encrypted).decode()


def is_encrypted(value: object) -> bool:
    """Whether ``value`` is a personal field's encrypted form (from either function above)."""
    return isinstance(value, str) and value.startswith(_PREFIX)


def encrypt_field_deterministic(key: bytes, value: str, aad: bytes) -> str:
    """``value`` encrypted as :func:`encrypt_field` does, with a nonce derived from the key, the
    field and the value (``HMAC-SHA256(key, aad || 0x00 || value)[:12]``): the same value of the
    same participant's field always gives the same text. A sender's client encrypts this way
    before the event enters Temporal, so a retried send has the same content digest and is a
    repeat. What it gives away: two equal values of one participant's field are seen to be
    equal (different fields, participants or teams never share a nonce or a ciphertext)."""
    plain = value.encode()
    nonce = hmac.digest(key, aad + b"\x00" + plain, hashlib.sha256)[:_NONCE]
    encrypted = AESGCM(key).encrypt(nonce, plain, aad)
    return _PREFIX + base64.b64encode(nonce + encrypted).decode()


def decrypt_field(key: bytes | None, value: str, aad: bytes) -> str:
    """The stored ``value`` decrypted (as it is if not encrypted; ``[erased]`` without a key)."""
    return decrypt_with(None if key is None else AESGCM(key), value, aad)


def decrypt_with(aead: AESGCM | None, value: str, aad: bytes) -> str:
    """:func:`decrypt_field` with the key's cipher already made (None: the key is gone)."""
    if not value.startswith(_PREFIX):
        return value
    if aead is None:
        return ERASED
    raw = base64.b64decode(value[len(_PREFIX) :])
    try:
        return aead.decrypt(raw[:_NONCE], raw[_NONCE:], aad).decode()
    except InvalidTag as exc:
        raise ValueError("an encrypted personal field failed authentication") from exc


class BatchKeys(KeyStore):
    """A key store's answers, remembered for one batch of reads (one case's events, one page of
    the log): a team's encrypted events share a key per participant, and one lookup each is
    enough. Only for reading; :meth:`forget` before the next batch, so an erasure shows from
    the next batch on. Never kept longer: another process may erase a key at any moment."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        self._seen: dict[tuple[UUID, str], AESGCM | None] = {}
        #: Prefetched keys, and the teams whose keys are all in there.
        self._fetched: dict[tuple[UUID, str], bytes] = {}
        self._teams: set[UUID] = set()

    def forget(self) -> None:
        self._seen.clear()
        self._fetched.clear()
        self._teams.clear()

    def prefetch(self, team_ids: Sequence[UUID]) -> None:
        """Look up every key of these teams at once (a batch about to be decrypted)."""
        wanted = [t for t in team_ids if t not in self._teams]
        if not wanted:
            return
        try:
            keys = self._keys.get_many(wanted)
        except NotImplementedError:
            return
        self._teams.update(wanted)
        self._fetched.update(keys)

    def aead(self, team_id: UUID, participant_id: str) -> AESGCM | None:
        """The participant's cipher (None once the key is erased), made once per batch."""
        pair = (team_id, participant_id)
        try:
            return self._seen[pair]
        except KeyError:
            if team_id in self._teams:
                key = self._fetched.get(pair)
            else:
                key = self._keys.get(team_id, participant_id)
            aead = self._seen[pair] = None if key is None else AESGCM(key)
            return aead

    def decrypt_payload(self, team_id: UUID, event_type: str, payload: dict[str, Any]) -> None:
        """Decrypt the personal fields of one event's payload, in place (not the
        fingerprint: readers that want it decode through :class:`ShreddingMapper`)."""
        fields = PERSONAL_FIELDS.get(event_type)
        if not fields:
            return
        pid = payload["participant_id"]
        aead = self.aead(team_id, pid)
        for field in fields:
            value = payload.get(field)
            if isinstance(value, str):
                payload[field] = decrypt_with(aead, value, _aad(team_id, pid, field))

    def get(self, team_id: UUID, participant_id: str) -> bytes | None:
        return self._keys.get(team_id, participant_id)

    def get_or_create(self, team_id: UUID, participant_id: str) -> bytes:
        raise NotImplementedError("a batch of reads never creates a key")

    def delete(self, team_id: UUID, participant_id: str) -> bool:
        raise NotImplementedError("a batch of reads never erases a key")


def decrypt_personal(
    keys: BatchKeys, team_id: UUID, participant_id: str, field: str, value: str
) -> str:
    """One personal ``field`` (its name in the event) of a participant, as a reader sees it:
    decrypted, ``[erased]`` once the key is gone, or as it is when it was never encrypted."""
    return decrypt_with(
        keys.aead(team_id, participant_id), value, _aad(team_id, participant_id, field)
    )


class ShreddingMapper(Mapper[UUID]):
    """The application's mapper, encrypting personal fields on the way in and decrypting them on
    the way out (``[erased]`` once the participant's key is gone)."""

    def __init__(self, *args: Any, keys: KeyStore, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys = keys

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        fields = PERSONAL_FIELDS.get(getattr(domain_event, "TYPE", ""))
        if not fields:
            return super().to_stored_event(domain_event)
        team_id, pid = domain_event.originator_id, domain_event.payload["participant_id"]
        key = self.keys.get_or_create(team_id, pid)
        payload = dict(domain_event.payload)
        for field in fields:
            # A sender's client encrypted it already (checked by the application's record).
            if payload.get(field) is not None and not is_encrypted(payload[field]):
                payload[field] = encrypt_field(key, payload[field], _aad(team_id, pid, field))
        fingerprint = encrypt_field(
            key, domain_event.fingerprint, _aad(team_id, pid, "fingerprint")
        )
        clone = object.__new__(type(domain_event))
        state = {**vars(domain_event), "payload": payload, "fingerprint": fingerprint}
        object.__setattr__(clone, "__dict__", state)
        return super().to_stored_event(clone)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event: Any = super().to_domain_event(stored_event)
        fields = PERSONAL_FIELDS.get(getattr(event, "TYPE", ""))
        if not fields:
            return event
        team_id, pid = event.originator_id, event.payload["participant_id"]
        keys = self.keys
        if isinstance(keys, BatchKeys):
            aead = keys.aead(team_id, pid)
        else:
            key = keys.get(team_id, pid)
            aead = None if key is None else AESGCM(key)
        payload = dict(event.payload)
        for field in fields:
            if isinstance(payload.get(field), str):
                payload[field] = decrypt_with(aead, payload[field], _aad(team_id, pid, field))
        fingerprint = decrypt_with(aead, event.fingerprint, _aad(team_id, pid, "fingerprint"))
        object.__setattr__(event, "payload", payload)
        object.__setattr__(event, "fingerprint", fingerprint)
        return event

    def encrypted(self) -> Mapper[UUID]:
        """A twin that decodes without decrypting personal fields (they stay as stored, each
        encrypted with its participant's key): what the read models fold, so a view's copy of
        a personal field is no more readable than the event's, and unreadable once erased."""
        return Mapper(transcoder=self.transcoder, cipher=self.cipher, compressor=self.compressor)

    def reading(self) -> ShreddingMapper:
        """A twin for one batch of reads: each participant's key is looked up once
        (:class:`BatchKeys`). Make a new one, or ``keys.forget()``, for the next batch."""
        return ShreddingMapper(
            transcoder=self.transcoder,
            cipher=self.cipher,
            compressor=self.compressor,
            keys=self.keys if isinstance(self.keys, BatchKeys) else BatchKeys(self.keys),
        )


def encrypt_personal_fields(keys: KeyStore, team_id: UUID, event: Command) -> Command:
    """``event`` with each personal field encrypted with its participant's key (deterministic:
    :func:`encrypt_field_deterministic`), as a sender's client sends it into Temporal.

    A value that already looks encrypted is refused (``invalid_event``): a sender gives plain
    values, and only ltflow encrypts. A participant who was erased gets no new key: the event
    is refused (``rule_violated``), as the rulebook would refuse it."""
    fields = [f for f in type(event).personal if getattr(event, f, None) is not None]
    if not fields:
        return event
    for field in fields:
        if is_encrypted(getattr(event, field)):
            raise InvalidEventError(
                f"The field '{field}' starts with '{_PREFIX}', which only ltflow's own "
                "encryption writes; send the plain value.",
                problems=[{"field": field, "problem": "reserved prefix"}],
            )
    pid: str = getattr(event, "participant_id")  # noqa: B009 - every personal event has one
    try:
        key = keys.get_or_create(team_id, pid)
    except KeyErasedError:
        raise RuleViolatedError(
            f"'{pid}' was erased from this team; nothing personal is recorded for them.",
            participant_id=pid,
        ) from None
    update = {
        f: encrypt_field_deterministic(key, getattr(event, f), _aad(team_id, pid, f))
        for f in fields
    }
    return event.model_copy(update=update)


def check_encrypted_fields(keys: KeyStore | None, team_id: UUID, event: Command) -> None:
    """Every encrypted personal field of ``event`` must open with its participant's key, or
    the event is refused (``invalid_event``) before anything is stored: a value encrypted with
    another key (or made up) would otherwise poison every reader of the record."""
    fields = [f for f in type(event).personal if is_encrypted(getattr(event, f, None))]
    if not fields:
        return
    pid: str = getattr(event, "participant_id")  # noqa: B009
    key = None if keys is None else keys.get(team_id, pid)
    aead = None if key is None else AESGCM(key)
    for field in fields:
        try:
            if aead is None:
                raise ValueError("no key")
            decrypt_with(aead, getattr(event, field), _aad(team_id, pid, field))
        except ValueError:
            raise InvalidEventError(
                f"The field '{field}' is encrypted, but not with the key of participant "
                f"'{pid}' of this team; nothing was stored.",
                problems=[{"field": field, "problem": "not encrypted with the participant's key"}],
            ) from None
