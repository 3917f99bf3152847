"""Key rings from configuration: base64 AES-256 keys, the current one first, older ones after it.

The Temporal payload codec (:mod:`ltflow.workflows.codec`) and the at-rest cipher
(:mod:`ltflow.privacy.at_rest`) both take their keys this way; the embedded stack keeps its
keys in files in the data dir.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def key_id(key: bytes) -> str:
    """A short public name for a key: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:8]


def new_key() -> str:
    """A fresh 256-bit key, base64, as configuration takes it."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def parse_keys(text: str) -> list[bytes]:
    """Keys from configuration: base64 keys separated by commas, the current one first."""
    keys = [base64.b64decode(part.strip()) for part in text.split(",") if part.strip()]
    for key in keys:
        if len(key) != 32:
            raise ValueError("every payload key must be 32 bytes (base64 of 256 bits)")
    if not keys:
        raise ValueError("no payload key given")
    return keys


def load_or_create_key_file(path: Path) -> list[bytes]:
    """The embedded stack's keys: kept in the data dir, created on first start (mode 600)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key() + "\n")
    return parse_keys(path.read_text())
