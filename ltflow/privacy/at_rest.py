"""Encryption at rest of stored events: the eventsourcing library's cipher slot, with a key ring.

Every stored event's bytes are encrypted with AES-256-GCM under the current key and carry the
key's short id, so rotating a key is adding a new current key in front of the old ones (which keep
decrypting what they encrypted). Stored bytes are never rewritten, so the audit hash chain over them
stays valid through a rotation. Configure with ``LTFLOW_EVENT_KEYS`` (base64 keys, current first);
``ltflow dev`` and ``ltflow demo`` generate a key file in the data dir.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Cipher
from eventsourcing.utils import Environment

from ltflow.privacy.keyring import key_id, parse_keys

MAGIC = b"LT\x01"
_KID = 4
_NONCE = 12


class RotatingAESCipher(Cipher):
    """AES-256-GCM with a key ring; reads ``CIPHER_KEY`` as comma-separated base64 keys."""

    CIPHER_KEY = "CIPHER_KEY"

    def __init__(self, environment: Environment) -> None:
        text = environment.get(self.CIPHER_KEY)
        if not text:
            raise OSError(f"'{self.CIPHER_KEY}' not in env")
        keys = parse_keys(text)
        self._current = bytes.fromhex(key_id(keys[0]))
        self._ciphers = {bytes.fromhex(key_id(k)): AESGCM(k) for k in keys}

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        encrypted = self._ciphers[self._current].encrypt(nonce, plaintext, MAGIC)
        return MAGIC + self._current + nonce + encrypted

    def decrypt(self, ciphertext: bytes) -> bytes:
        if not ciphertext.startswith(MAGIC):
            raise ValueError("stored event is not encrypted by ltflow's cipher")
        start = len(MAGIC)
        kid = ciphertext[start : start + _KID]
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise ValueError(f"stored event encrypted with an unknown key {kid.hex()}")
        nonce = ciphertext[start + _KID : start + _KID + _NONCE]
        try:
            return cipher.decrypt(nonce, ciphertext[start + _KID + _NONCE :], MAGIC)
        except InvalidTag as exc:
            raise ValueError("stored event failed authentication (changed bytes?)") from exc
