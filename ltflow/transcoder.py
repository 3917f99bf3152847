"""The event store's transcoder: the library's JSON format, read with orjson.

Stored bytes are exactly what :class:`eventsourcing.persistence.JSONTranscoder` writes (the
encoder is the library's own, so the audit chain and every existing store are untouched).
Reading parses with orjson and then applies the same transcodings, innermost first, as the
library's ``object_hook`` does: a replay of a long case spent a third of its decoding in
``json``. What orjson reads differently is read by ``json`` as before, so every stored event
decodes to the same value either way: what it refuses (``NaN``, ``Infinity``) and any run of
19 or more digits (an integer beyond 64 bits, which orjson may turn into a float; a long digit
string in a text merely takes the slower path).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

#: 19 digits in a row: possibly an integer orjson does not keep exact.
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


class FastJSONTranscoder(JSONTranscoder):
    """:class:`JSONTranscoder` with an orjson reader (see the module docstring)."""

    def decode(self, data: bytes) -> Any:
        if _LONG_NUMBER.search(data) is not None:
            return super().decode(data)
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)
        return self._revive(value)

    def _revive(self, value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                if type(item) is dict or type(item) is list:
                    value[key] = self._revive(item)
            return self._decode_obj(value)
        if kind is list:
            return [self._revive(item) for item in value]
        return value


def loads(data: bytes) -> Any:
    """Plain JSON (no transcodings) exactly as ``json.loads`` reads it, mostly with orjson."""
    if _LONG_NUMBER.search(data) is not None:
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
