"""A codec server for the Temporal UI and CLI: operators read encrypted histories with a token.

It speaks Temporal's remote codec protocol: ``POST /codec/decode`` and ``POST /codec/encode``
with ``{"payloads": [{"metadata": {name: base64}, "data": base64}]}``. Decoding shows personal
data, so it needs the ``audit:read`` scope; encoding needs ``events:write``. Point the UI at
``<api>/codec`` (with "pass access token"), and list its origin in ``LTFLOW_CODEC_CORS_ORIGINS``.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Security
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from ltflow.aggregates.errors import InvalidEventError
from ltflow.api.auth import AUDIT_READ, EVENTS_WRITE, bearer_scheme, scoped
from ltflow.api.context import ApiContext, get_context
from ltflow.api.errors import ERROR_DOCS
from ltflow.workflows.codec import ENCODING, is_refusal

Context = Annotated[ApiContext, Depends(get_context)]


class JsonPayload(BaseModel):
    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class JsonPayloads(BaseModel):
    payloads: list[JsonPayload] = Field(max_length=10_000)


def _router(scope: str) -> APIRouter:
    return APIRouter(
        prefix="/codec",
        route_class=scoped(scope),  # type: ignore[arg-type]
        dependencies=[Security(bearer_scheme)],
        tags=["codec"],
        responses=ERROR_DOCS,
    )


decode_router = _router(AUDIT_READ)
encode_router = _router(EVENTS_WRITE)


def _to_proto(body: JsonPayloads) -> list[Payload]:
    try:
        return [
            Payload(
                metadata={k: base64.b64decode(v) for k, v in p.metadata.items()},
                data=base64.b64decode(p.data),
            )
            for p in body.payloads
        ]
    except ValueError:
        raise InvalidEventError("Payload metadata and data must be base64.") from None


def _to_json(payloads: list[Payload]) -> JsonPayloads:
    return JsonPayloads(
        payloads=[
            JsonPayload(
                metadata={k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                data=base64.b64encode(p.data).decode(),
            )
            for p in payloads
        ]
    )


def _codec(ctx: ApiContext) -> PayloadCodec:
    codec = ctx.client.client.data_converter.payload_codec
    if codec is None:
        raise InvalidEventError("This API's Temporal client has no payload codec.")
    return codec


@decode_router.post("/decode", response_model=JsonPayloads, summary="Decrypt payloads")
async def decode(body: JsonPayloads, ctx: Context) -> JsonPayloads:
    payloads = _to_proto(body)
    # Showing is no write: a payload ltflow did not encrypt (a marker's, or one a client without
    # the key sent) is shown as it is, where a worker's codec refuses it as input.
    encrypted = [i for i, p in enumerate(payloads) if p.metadata.get("encoding") == ENCODING]
    decrypted = await _codec(ctx).decode([payloads[i] for i in encrypted])
    if any(is_refusal(p) for p in decrypted):
        raise InvalidEventError(
            "A payload was encrypted with a key this server does not hold, or does not decrypt."
        )
    for i, payload in zip(encrypted, decrypted, strict=True):
        payloads[i] = payload
    return _to_json(payloads)


@encode_router.post("/encode", response_model=JsonPayloads, summary="Encrypt payloads")
async def encode(body: JsonPayloads, ctx: Context) -> JsonPayloads:
    return _to_json(await _codec(ctx).encode(_to_proto(body)))
