"""Encryption of Temporal payloads, so the Temporal server and its history never hold plaintext.

Every payload (workflow inputs, update arguments and results, activity inputs and results) is
encrypted with AES-256-GCM before it leaves the process. The key ring holds one current key, which
encrypts, and any number of older keys, which still decrypt what they encrypted: rotating a key is
adding a new current key and keeping the old one until no open workflow needs it. Each encrypted
payload names its key by a short id, never the key itself.

Decoding refuses what it cannot decrypt: a payload in any other encoding (a plain Temporal
client's JSON, say), or encrypted with a key the ring does not hold, or that does not decrypt,
becomes a refusal (:data:`REFUSED`) that no converter turns into a value, so an update from a
client without the payload key is rejected and nothing reaches the store. Only a Replayer of
histories recorded before payload encryption accepts other encodings (``accept_plaintext``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

from ltflow.privacy.keyring import key_id

#: The ``encoding`` metadata of an encrypted payload: in every history, so it never changes.
ENCODING = b"binary/ltflow-aes256gcm"
#: What decoding makes of a payload it cannot open (:func:`refusal`).
REFUSED = b"binary/ltflow-refused"
_NONCE = 12


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole payloads, with a key ring for rotation.

    ``accept_plaintext`` passes payloads in other encodings through as they are: only for
    replaying histories recorded before encryption (``tests/workflows/histories/v1-*``), never
    for a worker or a client, since whoever reaches Temporal could then write without the key.
    """

    def __init__(self, keys: Sequence[bytes], *, accept_plaintext: bool = False) -> None:
        if not keys:
            raise ValueError("EncryptionCodec needs at least one key")
        self.accept_plaintext = accept_plaintext
        self._current_id = key_id(keys[0])
        self._ciphers = {key_id(k): AESGCM(k) for k in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) for p in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE)
        data = self._ciphers[self._current_id].encrypt(nonce, payload.SerializeToString(), None)
        return Payload(
            metadata={"encoding": ENCODING, "encryption-key-id": self._current_id.encode()},
            data=nonce + data,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        # Never raise: a payload that cannot be decrypted is refused, so the update carrying it
        # is rejected, instead of failing every workflow task of the team while it is retried.
        if payload.metadata.get("encoding") != ENCODING:
            return payload if self.accept_plaintext else refusal(NOT_ENCRYPTED)
        kid = payload.metadata.get("encryption-key-id", b"").decode(errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            return refusal(UNKNOWN_KEY)
        data = payload.data
        plain = Payload()
        try:
            plain.ParseFromString(cipher.decrypt(data[:_NONCE], data[_NONCE:], None))
        except (InvalidTag, DecodeError, ValueError):
            return refusal(UNDECRYPTABLE)
        return plain


#: Why a payload was refused (:func:`refusal`); the sentences are in ``workflows/failures.py``.
NOT_ENCRYPTED, UNKNOWN_KEY, UNDECRYPTABLE = "not-encrypted", "unknown-key", "undecryptable"


def refusal(reason: str) -> Payload:
    """The stand-in for a payload ltflow cannot open: none of its data, only why (the payload
    converter raises on it)."""
    return Payload(metadata={"encoding": REFUSED, "refused": reason.encode()})


def is_refusal(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == REFUSED


def codec_from_keys(keys: Iterable[bytes] | None) -> EncryptionCodec | None:
    keys = list(keys or [])
    return EncryptionCodec(keys) if keys else None


class ChainedCodec(PayloadCodec, WithSerializationContext):
    """A host's own codec inside ltflow's: payloads are encoded by the host's codec, then
    encrypted by ltflow's; decoding decrypts ltflow's layer and then the host's codec decodes. A
    payload ltflow did not encrypt (even one the host's codec alone wrote) stays refused, and the
    host's codec never sees the refusal.
    """

    def __init__(self, host: PayloadCodec, ours: PayloadCodec) -> None:
        self.host = host
        self.ours = ours

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.ours.encode(await self.host.encode(payloads))

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        opened = await self.ours.decode(payloads)
        inner = [i for i, p in enumerate(opened) if not is_refusal(p)]
        decoded = await self.host.decode([opened[i] for i in inner])
        for i, payload in zip(inner, decoded, strict=True):
            opened[i] = payload
        return opened

    def with_context(self, context: SerializationContext) -> ChainedCodec:
        host = self.host
        if isinstance(host, WithSerializationContext):
            host = host.with_context(context)
        return self if host is self.host else ChainedCodec(host, self.ours)


def with_host_codec(host: PayloadCodec | None, ours: PayloadCodec) -> PayloadCodec:
    """ltflow's codec, around the host's own codec if the host set one (and not twice)."""
    if host is None or host is ours:
        return ours
    if isinstance(host, ChainedCodec) and host.ours is ours:
        return host
    return ChainedCodec(host, ours)
