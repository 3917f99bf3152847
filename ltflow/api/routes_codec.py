"""A codec server for the Temporal UI and CLI: operators read encrypted histories with a token.

It speaks Temporal's remote codec protocol: ``POST /codec/decode`` and ``POST /codec/encode``
with ``{"payloads": [{"metadata": {name: base64}, "data": base64}]}``. Decoding shows personal
data, so it needs the ``audit:read`` scope; encoding needs ``events:write``. Both are recorded in
the access log (``codec.decode``, ``codec.encode``: who, for whom, how many payloads) before they
answer; an API without an access log refuses them. Point the UI at
``<api>/codec`` (with "pass access token"), and list its origin in ``LTFLOW_CODEC_CORS_ORIGINS``.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Security
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from ltflow.aggregates.errors import InvalidEventError, LtflowError
from ltflow.api.auth import AUDIT_READ, EVENTS_WRITE, bearer_scheme, scoped
from ltflow.api.context import ApiContext, get_context
from ltflow.api.errors import ERROR_DOCS, UnavailableError
from ltflow.api.routes_audit import Reader
from ltflow.audit.access_log import Accessor
from ltflow.workflows.codec import ENCODING, is_refusal

Context = Annotated[ApiContext, Depends(get_context)]


class JsonPayload(BaseModel):
    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class JsonPayloads(BaseModel):
    #: The Temporal CLI sends ``{}`` when there is nothing to decode: no payloads.
    payloads: list[JsonPayload] = Field(default_factory=list, max_length=10_000)


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


@asynccontextmanager
async def _logged(
    ctx: ApiContext, reader: Accessor, action: str, count: int
) -> AsyncIterator[None]:
    """Record the call in the access log before it answers (with the error's code when it
    fails); without an access log the call is refused, since every such read is logged."""
    if ctx.audit is None:
        raise UnavailableError(
            "This API keeps no access log (no audit service), so it decodes and encodes no "
            "payloads: every such call must be logged."
        )
    audit = ctx.audit
    detail: dict[str, object] = {"payloads": count}

    async def record() -> None:
        await asyncio.to_thread(audit.record_read, reader, action, None, detail)

    try:
        yield
    except LtflowError as error:
        detail["outcome"] = error.code
        await record()
        raise
    detail["outcome"] = "ok"
    await record()


@decode_router.post("/decode", response_model=JsonPayloads, summary="Decrypt payloads")
async def decode(body: JsonPayloads, ctx: Context, reader: Reader) -> JsonPayloads:
    """Decrypt payloads (scope ``audit:read``); logged in the access log (``codec.decode``).
    Personal fields stay encrypted with their participants' keys inside the payloads (the
    client encrypts them before they enter Temporal), so an erased participant's text is not
    recovered here either."""
    payloads = _to_proto(body)
    async with _logged(ctx, reader, "codec.decode", len(payloads)):
        # Showing is no write: a payload ltflow did not encrypt (a marker's, or one a client
        # without the key sent) is shown as it is, where a worker's codec refuses it as input.
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
async def encode(body: JsonPayloads, ctx: Context, reader: Reader) -> JsonPayloads:
    """Encrypt payloads (scope ``events:write``); logged in the access log
    (``codec.encode``)."""
    payloads = _to_proto(body)
    async with _logged(ctx, reader, "codec.encode", len(payloads)):
        encoded = await _codec(ctx).encode(payloads)
    return _to_json(encoded)
