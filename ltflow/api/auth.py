"""Who the caller is (the ``actor`` stored with their events) and what they may do: static bearer
tokens for services, OpenID Connect access tokens for people (:mod:`ltflow.api.identity`).

Service tokens come from configuration as a mapping, e.g. ``LTFLOW_API_TOKENS``::

    {"<token>": {"actor": "incident-system", "scopes": ["events:write", "teams:read"]},
     "sha256:<hex digest of a token>": {"actor": "audit-tool", "scopes": ["audit:read"],
                                        "roles": ["auditor"]}}

A key may be the token itself or ``sha256:`` and the hex digest of it, so the configuration need
not hold the secret. Tokens are compared by digest, in constant time, against every configured
one. A token that is none of them and has a JWT's shape goes to the OpenID Connect verifier when
an issuer is configured. Authorization runs before the request body is read: a caller without a
valid token learns nothing, not even whether their JSON parses.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import structlog
from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from ltflow.access.policy import ORG_ROLES
from ltflow.aggregates.actors import SYSTEM_ACTOR, actor_problem
from ltflow.api.errors import ForbiddenError, UnauthenticatedError
from ltflow.api.identity import AUDIT_ROLES, PERSON_SCOPES, Identity, looks_like_jwt

if TYPE_CHECKING:
    from ltflow.api.context import ApiContext
    from ltflow.api.throttle import RateLimits

ApiScope = Literal["events:write", "teams:read", "audit:read"]
EVENTS_WRITE: ApiScope = "events:write"
TEAMS_READ: ApiScope = "teams:read"
AUDIT_READ: ApiScope = "audit:read"
#: Besides the three of the contract: erasing a participant and abandoning a team need their
#: own (the access policy, :mod:`ltflow.access.policy`).
SCOPES: frozenset[str] = frozenset(
    {EVENTS_WRITE, TEAMS_READ, AUDIT_READ, "participants:erase", "teams:abandon"}
)
#: The actor of timer events; no caller may speak as it (see :mod:`ltflow.aggregates.actors`).
RESERVED_ACTORS = frozenset({SYSTEM_ACTOR})
_HASHED = "sha256:"

#: Documents the scheme in OpenAPI; the checking itself is done by :class:`ScopedRoute`.
bearer_scheme = HTTPBearer(
    auto_error=False,
    description=(
        "A service token from LTFLOW_API_TOKENS, or a person's OpenID Connect access token from "
        "the configured issuer, sent as 'Authorization: Bearer <token>'."
    ),
)


PrincipalKind = Literal["service", "person"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a service (a static token) or a person (an OpenID Connect token).

    ``actor`` is what is stored with the caller's events: a service's configured actor, or a
    person's stable subject. ``roles`` are organisation roles (``quality_officer``, ``auditor``,
    ``privacy_officer``, ``facilitator``, ``service``); a person's roles in one team come from the
    team's own events (:mod:`ltflow.access.policy`).
    """

    actor: str
    scopes: frozenset[str]
    kind: PrincipalKind = "service"
    name: str | None = None
    roles: frozenset[str] = frozenset()


class TokenRegistry:
    """The configured tokens, kept as SHA-256 digests only."""

    def __init__(self, entries: Mapping[bytes, Principal] | None = None) -> None:
        self._entries: list[tuple[bytes, Principal]] = list((entries or {}).items())

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def actors(self) -> frozenset[str]:
        """The actors of the configured tokens (no person may be recorded as one of them)."""
        return frozenset(principal.actor for _, principal in self._entries)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> TokenRegistry:
        """Parse ``{token: {"actor": ..., "scopes": [...]}}``; raises ``ValueError`` on mistakes."""
        if not isinstance(config, Mapping):
            raise ValueError("API tokens must be a JSON object of token -> {actor, scopes}.")
        entries: dict[bytes, Principal] = {}
        for key, spec in config.items():
            digest = _configured_digest(key)
            if digest in entries:
                raise ValueError("The same API token is configured twice.")
            entries[digest] = _principal(spec)
        return cls(entries)

    @classmethod
    def from_json(cls, text: str | None) -> TokenRegistry:
        """Parse the ``LTFLOW_API_TOKENS`` value (unset or blank: no tokens)."""
        if text is None or not text.strip():
            return cls()
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"LTFLOW_API_TOKENS is not valid JSON: {exc.msg}.") from None
        return cls.from_mapping(config)

    def authenticate(self, token: str) -> Principal | None:
        """The principal a token belongs to, or None. Every entry is compared, in constant time."""
        presented = hashlib.sha256(token.encode()).digest()
        found: Principal | None = None
        for digest, principal in self._entries:
            if hmac.compare_digest(digest, presented):
                found = principal
        return found


def registry_for(
    settings: object, tokens: TokenRegistry | Mapping[str, Any] | None = None
) -> TokenRegistry:
    """The tokens given, else ``settings.api_tokens`` (``LTFLOW_API_TOKENS`` as a mapping)."""
    if isinstance(tokens, TokenRegistry):
        return tokens
    if tokens is None:
        tokens = getattr(settings, "api_tokens", None) or {}
    return TokenRegistry.from_mapping(tokens)


def ephemeral_token(actor: str = "dev") -> tuple[TokenRegistry, str]:
    """A fresh token with every scope, for ``ltflow dev`` when no tokens are configured."""
    token = secrets.token_urlsafe(24)
    registry = TokenRegistry(
        {hashlib.sha256(token.encode()).digest(): Principal(actor, frozenset(SCOPES))}
    )
    return registry, token


def _configured_digest(key: object) -> bytes:
    if not isinstance(key, str) or not key.strip() or key != key.strip():
        raise ValueError("An API token must be a non-empty string without surrounding spaces.")
    if key.startswith(_HASHED):
        try:
            digest = bytes.fromhex(key[len(_HASHED) :])
        except ValueError:
            digest = b""
        if len(digest) != hashlib.sha256().digest_size:
            raise ValueError("A 'sha256:' API token key must be followed by 64 hex digits.")
        return digest
    return hashlib.sha256(key.encode()).digest()


def _principal(spec: object) -> Principal:
    if not isinstance(spec, Mapping):
        raise ValueError("Each API token needs an object with 'actor' and 'scopes'.")
    actor, scopes = spec.get("actor"), spec.get("scopes")
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError("Each API token needs a non-empty 'actor'.")
    problem = actor_problem(actor.strip())
    if problem is not None:  # e.g. 'system', the timers' actor, in any spelling
        raise ValueError(f"An API token's 'actor' cannot send events: {problem}")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ValueError(f"The token of '{actor}' needs 'scopes' as a list of strings.")
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise ValueError(
            f"The token of '{actor}' has unknown scopes {unknown}; known: {sorted(SCOPES)}."
        )
    roles = spec.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ValueError(f"The token of '{actor}' needs 'roles' as a list of strings.")
    unknown = sorted(set(roles) - ORG_ROLES)
    if unknown:
        raise ValueError(
            f"The token of '{actor}' has unknown roles {unknown}; known: {sorted(ORG_ROLES)}."
        )
    return Principal(actor.strip(), frozenset(scopes), roles=frozenset(roles))


def person_principal(identity: Identity) -> Principal:
    """A person as the API sees them: every person may read teams and send events (the team
    policy narrows both per team); auditors and privacy officers read the audit too."""
    scopes = set(PERSON_SCOPES)
    if identity.roles & AUDIT_ROLES:
        scopes.add(AUDIT_READ)
    return Principal(
        identity.subject,
        frozenset(scopes),
        kind="person",
        name=identity.name,
        roles=identity.roles,
    )


async def authorize(request: Request, required: str | None) -> Principal | None:
    """Check the bearer token (a service's, then a person's) and the scope a route requires,
    within the rate limits (:mod:`ltflow.api.throttle`)."""
    if required is None:
        return None
    context: ApiContext = request.app.state.ltflow
    limits: RateLimits = context.limits
    address = request.client.host if request.client is not None else "unknown"
    # An address over its failures is refused before its token is compared (see throttle).
    limits.check_address(address)
    header = request.headers.get("authorization", "")
    kind, _, token = header.partition(" ")
    token = token.strip()
    principal: Principal | None = None
    if kind.lower() == "bearer":
        try:
            principal = await _authenticate(context, token)
        except UnauthenticatedError:
            limits.failed(address)
            raise
    if principal is None:
        limits.failed(address)
        reason = "no bearer token was sent" if not header else "the bearer token is not valid"
        raise UnauthenticatedError(f"Authentication is required: {reason}.")
    if required not in principal.scopes:
        raise ForbiddenError(
            f"The token of '{principal.actor}' lacks the scope '{required}' this needs.",
            required_scope=required,
        )
    if required == EVENTS_WRITE:
        # A person's tokens change every few minutes: count their writes by who they are.
        limits.write(token if principal.kind == "service" else f"person:{principal.actor}")
    return principal


async def _authenticate(context: ApiContext, token: str) -> Principal | None:
    """A static token's principal (compared in constant time), else the person a JWT names when
    OpenID Connect is configured; None for anything else."""
    principal = context.tokens.authenticate(token)
    verifier = context.identities
    if principal is not None or verifier is None or not looks_like_jwt(token):
        return principal
    # The key set may have to be fetched (bounded by the issuer timeout): not in the event loop.
    identity = await asyncio.to_thread(verifier.verify, token)
    return person_principal(identity)


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class ScopedRoute(APIRoute):
    """A route that authorizes before FastAPI reads the body; subclasses set ``required_scope``.

    It also binds the path's team id to structlog's context for everything the route logs.
    """

    required_scope: ClassVar[str | None] = None

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        required = self.required_scope

        async def authorized(request: Request) -> Response:
            team_id = request.path_params.get("team_id")
            bound = {"team_id": team_id} if team_id is not None else {}
            with structlog.contextvars.bound_contextvars(**bound):
                request.state.principal = await authorize(request, required)
                return await handler(request)

        return authorized


def scoped(scope: ApiScope) -> type[ScopedRoute]:
    """The route class for a router whose every route needs ``scope``."""
    name = "ScopedRoute_" + scope.replace(":", "_")
    return cast("type[ScopedRoute]", type(name, (ScopedRoute,), {"required_scope": scope}))


def current_principal(request: Request) -> Principal:
    """Dependency: the caller :class:`ScopedRoute` authenticated."""
    principal: Principal = request.state.principal
    return principal
