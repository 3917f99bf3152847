"""The event store's transcoder: the library's JSON format, read with orjson.

Stored bytes are exactly what :class:`eventsourcing.persistence.JSONTranscoder` writes (the
encoder is the library's own, so the audit chain and every existing store are untouched).
Reading parses with orjson and then applies the same transcodings, innermost first, as the
library's ``object_hook`` does: a replay of a long case spent a third of its decoding in
``json``. What orjson may read differently is read by ``json`` as before, so every stored event
decodes to the same value either way: what it refuses (``NaN``, ``1e400``) and any document in
which it found a float (an integer beyond 64 bits becomes a float in orjson and stays an exact
integer in ``json``; ltflow's events hold no floats, so this costs nothing in practice).
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder


class _Inexact(Exception):
    """orjson read a float: it may have been an integer beyond 64 bits (orjson turns those into
    floats where ``json`` keeps them exact), so ``json`` reads the document instead."""


class FastJSONTranscoder(JSONTranscoder):
    """:class:`JSONTranscoder` with an orjson reader (see the module docstring)."""

    def decode(self, data: bytes) -> Any:
        try:
            return self._revive(orjson.loads(data))
        except (orjson.JSONDecodeError, _Inexact):
            return super().decode(data)

    def _revive(self, value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                if type(item) is dict or type(item) is list:
                    value[key] = self._revive(item)
                elif type(item) is float:
                    raise _Inexact
            return self._decode_obj(value)
        if kind is list:
            return [self._revive(item) for item in value]
        if kind is float:
            raise _Inexact
        return value


def has_float(value: Any) -> bool:
    """Whether orjson's reading of a JSON value holds a float anywhere (see above)."""
    kind = type(value)
    if kind is dict:
        value = value.values()
    elif kind is not list:
        return kind is float
    for item in value:
        kind = type(item)
        if kind is float or ((kind is dict or kind is list) and has_float(item)):
            return True
    return False
