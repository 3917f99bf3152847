"""Encryption of Temporal payloads, so the Temporal server and its history never hold plaintext.

Every payload (workflow inputs, update arguments and results, activity inputs and results) is
encrypted with AES-256-GCM before it leaves the process. The key ring holds one current key, which
encrypts, and any number of older keys, which still decrypt what they encrypted: rotating a key is
adding a new current key and keeping the old one until no open workflow needs it. Each encrypted
payload names its key by a short id, never the key itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

from ltflow.privacy.keyring import key_id

#: The ``encoding`` metadata of an encrypted payload: in every history, so it never changes.
ENCODING = b"binary/ltflow-aes256gcm"
_NONCE = 12


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole payloads, with a key ring for rotation."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("EncryptionCodec needs at least one key")
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
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # not ours (e.g. written before encryption was switched on)
        kid = payload.metadata["encryption-key-id"].decode()
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise ValueError(f"payload encrypted with an unknown key {kid}; add it to the key ring")
        data = payload.data
        plain = Payload()
        plain.ParseFromString(cipher.decrypt(data[:_NONCE], data[_NONCE:], None))
        return plain


def codec_from_keys(keys: Iterable[bytes] | None) -> EncryptionCodec | None:
    keys = list(keys or [])
    return EncryptionCodec(keys) if keys else None


class ChainedCodec(PayloadCodec, WithSerializationContext):
    """A host's own codec inside ltflow's: payloads are encoded by the host's codec, then
    encrypted by ltflow's; decoding decrypts ltflow's layer (a payload it did not encrypt passes
    through, such as one the host's codec alone wrote before ltflow was added) and then the host's
    codec decodes.
    """

    def __init__(self, host: PayloadCodec, ours: PayloadCodec) -> None:
        self.host = host
        self.ours = ours

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.ours.encode(await self.host.encode(payloads))

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.host.decode(await self.ours.decode(payloads))

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
