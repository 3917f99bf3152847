"""People's identities: OpenID Connect access tokens (JWT), verified with PyJWT against the
issuer's published keys (JWKS).

A token is accepted only when its signature verifies with a key the issuer publishes, under an
algorithm the configuration allows (public-key ones only: never ``none``, never a shared secret),
and when its issuer, audience, expiry and not-before hold (with a small leeway for clock skew).
The configuration says which claims give the subject (stored as the ``actor`` of the person's
events), the display name and the organisation roles (:class:`ClaimMap`).

The key set is fetched lazily and cached by PyJWT's ``PyJWKClient``; a token whose ``kid`` the
cache does not hold refreshes the set once, at most once per cooldown (a stream of made-up key
ids cannot turn the API into a client that hammers the issuer). An issuer that does not answer
within the timeout is a dependency that is down (503 ``unavailable``), never a hang; after such a
failure the next requests are answered at once for a moment instead of each waiting again.
"""

from __future__ import annotations

import json
import re
import threading
import time
import unicodedata
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.error import URLError

import jwt
import structlog

from ltflow.access.policy import OrgRole
from ltflow.aggregates.actors import MAX_ACTOR_LENGTH, actor_problem
from ltflow.api.errors import UnauthenticatedError, UnavailableError
from ltflow.config import PERSON_ROLES, Settings, check_oidc_url

log = structlog.get_logger("ltflow.api")

#: What every person may ask for; the team policy narrows it per team.
PERSON_SCOPES = frozenset({"teams:read", "events:write"})
#: Organisation roles that read the audit (history, point-in-time state, verification).
AUDIT_ROLES = frozenset({OrgRole.AUDITOR.value, OrgRole.PRIVACY_OFFICER.value})
#: Three base64url parts: the shape of a JWS in compact form (an unsigned one has no third).
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
#: Algorithm names a message may repeat; anything else in a header is the sender's text.
_KNOWN_ALGS = frozenset(
    {"none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    | {"ES256", "ES256K", "ES384", "ES512", "EdDSA"}
)


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has the compact JWS shape (worth handing to the verifier)."""
    return _JWT_SHAPE.fullmatch(token) is not None


@dataclass(frozen=True)
class ClaimMap:
    """Which claims say who a person is and which organisation roles they hold."""

    subject: str = "sub"
    name: str = "name"
    #: A dotted path into the claims: ``roles`` (Entra ID), ``realm_access.roles`` (Keycloak).
    roles: str = "roles"
    #: Claim value -> the ltflow roles it gives; values not in it are ignored.
    role_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def subject_of(self, claims: Mapping[str, Any]) -> str:
        subject = claims.get(self.subject)
        problem = actor_problem(subject)
        if problem is not None:
            raise UnauthenticatedError(
                f"Authentication is required: the token's '{self.subject}' claim cannot name "
                f"the sender of events. {problem}"
            )
        assert isinstance(subject, str)
        return subject

    def name_of(self, claims: Mapping[str, Any]) -> str | None:
        for claim in (self.name, "preferred_username"):
            value = claims.get(claim)
            if isinstance(value, str) and _displayable(value):
                return value.strip()
        return None

    def roles_of(self, claims: Mapping[str, Any]) -> frozenset[str]:
        found: Any = claims
        for part in self.roles.split("."):
            found = found.get(part) if isinstance(found, Mapping) else None
        values = [found] if isinstance(found, str) else found
        if not isinstance(values, list):
            return frozenset()
        roles = {role for v in values if isinstance(v, str) for role in self.role_map.get(v, ())}
        return frozenset(roles & PERSON_ROLES)


@dataclass(frozen=True)
class Identity:
    """Who a valid token says the person is."""

    subject: str
    name: str | None
    roles: frozenset[str]


def _displayable(name: str) -> bool:
    return (
        bool(name.strip())
        and len(name) <= MAX_ACTOR_LENGTH
        and not any(unicodedata.category(ch) == "Cc" for ch in name)
    )


class IdentityVerifier:
    """Verifies the access tokens of one issuer and says who the person is.

    :meth:`verify` blocks (it may fetch the key set): call it from a worker thread.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks_url: str | None = None,
        algorithms: tuple[str, ...] = ("RS256", "ES256"),
        claims: ClaimMap | None = None,
        leeway: float = 30.0,
        timeout: float = 3.0,
        jwks_lifespan: float = 300.0,
        refresh_cooldown: float = 30.0,
        reserved_actors: frozenset[str] = frozenset(),
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self.claims = claims or ClaimMap()
        self.leeway = leeway
        self.timeout = timeout
        #: Actors of the static service tokens: no person may be recorded as one of them.
        self.reserved_actors = frozenset(a.strip().casefold() for a in reserved_actors)
        self._jwks_url = jwks_url
        self._lifespan = jwks_lifespan
        self._cooldown = refresh_cooldown
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()
        #: After the issuer failed to answer, answer 503 at once until then (monotonic time).
        self._down_until = 0.0

    @classmethod
    def from_settings(
        cls, settings: Settings, reserved_actors: frozenset[str] = frozenset()
    ) -> IdentityVerifier | None:
        """The verifier ``LTFLOW_OIDC_*`` configure, or None when no issuer is set."""
        if settings.oidc_issuer is None or settings.oidc_audience is None:
            return None
        return cls(
            settings.oidc_issuer,
            settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            algorithms=settings.oidc_algorithms,
            claims=ClaimMap(
                subject=settings.oidc_subject_claim,
                name=settings.oidc_name_claim,
                roles=settings.oidc_roles_claim,
                role_map=dict(settings.oidc_role_map),
            ),
            leeway=settings.oidc_leeway,
            timeout=settings.oidc_timeout,
            reserved_actors=reserved_actors,
        )

    def verify(self, token: str) -> Identity:
        """The subject, display name and organisation roles of a valid token.

        Raises :class:`UnauthenticatedError` saying what is wrong with the token (never quoting
        it), or :class:`UnavailableError` when the issuer's keys cannot be had.
        """
        header = _header(token)
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise _refused(_algorithm_problem(alg, self.algorithms))
        key = self._signing_key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            raise _refused(_claim_problem(exc)) from None
        subject = self.claims.subject_of(claims)
        if subject.strip().casefold() in self.reserved_actors:
            raise _refused("its subject is the name of a configured service")
        return Identity(subject, self.claims.name_of(claims), self.claims.roles_of(claims))

    def _signing_key(self, kid: object) -> jwt.PyJWK:
        if not isinstance(kid, str) or not kid:
            raise _refused("it names no signing key ('kid')")
        with self._lock:
            if time.monotonic() < self._down_until:
                raise self._unavailable()
            try:
                client = self._key_client()
                # The cached key set, or the first one: the issuer's to give (else 503).
                client.get_signing_keys()
            except (jwt.PyJWKClientError, jwt.PyJWKSetError, _IssuerDown) as exc:
                raise self._went_down(exc) from None
            try:
                # A kid the cached set lacks refreshes it, at most once per cooldown.
                return client.get_signing_key(kid)
            except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError) as exc:
                raise self._went_down(exc) from None
            except jwt.PyJWKClientError:
                raise _refused("it is signed with a key the issuer does not publish") from None

    def _went_down(self, exc: Exception) -> UnavailableError:
        """The issuer failed to give its keys: say so, and answer at once for a moment."""
        self._down_until = time.monotonic() + self.timeout
        log.warning("oidc issuer unavailable", issuer=self.issuer, error=str(exc))
        return self._unavailable()

    def _key_client(self) -> jwt.PyJWKClient:
        if self._client is None:
            url = self._jwks_url or self._discover()
            self._client = jwt.PyJWKClient(
                url,
                lifespan=self._lifespan,
                timeout=self.timeout,
                cooldown_duration=self._cooldown,
            )
        return self._client

    def _discover(self) -> str:
        """The issuer's ``jwks_uri``, from its OpenID Provider metadata."""
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        # No redirects: the metadata is the issuer's own, at its own address (as for the keys).
        opener = urllib.request.build_opener(_NoRedirects())
        try:
            with opener.open(url, timeout=self.timeout) as response:
                metadata = json.load(response)
        except (URLError, TimeoutError, OSError, ValueError) as exc:
            raise _IssuerDown(f"discovery at {url} failed: {exc}") from None
        if not isinstance(metadata, dict) or metadata.get("issuer") != self.issuer:
            raise _IssuerDown(f"the metadata at {url} is not that of issuer {self.issuer}")
        jwks_url = metadata.get("jwks_uri")
        try:
            check_oidc_url(jwks_url if isinstance(jwks_url, str) else "", "jwks_uri")
        except ValueError as exc:
            raise _IssuerDown(str(exc)) from None
        assert isinstance(jwks_url, str)
        return jwks_url

    def _unavailable(self) -> UnavailableError:
        return UnavailableError(
            "The identity provider's signing keys cannot be fetched right now, so the token "
            "cannot be checked; try again shortly.",
            dependency="identity_provider",
        )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _IssuerDown(Exception):
    """The issuer's metadata could not be had (an outage, or an answer that is not its own)."""


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:  # not only DecodeError: a 'kid' that is no string, too
        raise _refused("it is not a well-formed JWT") from None


def _refused(why: str) -> UnauthenticatedError:
    return UnauthenticatedError(f"Authentication is required: the bearer token is refused, {why}.")


def _algorithm_problem(alg: object, allowed: tuple[str, ...]) -> str:
    accepted = ", ".join(allowed)
    if alg == "none":
        return f"it is not signed (alg 'none'); accepted algorithms: {accepted}"
    named = f"'{alg}'" if isinstance(alg, str) and alg in _KNOWN_ALGS else "an unknown algorithm"
    return f"it is signed with {named}; accepted algorithms: {accepted}"


def _claim_problem(exc: jwt.InvalidTokenError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "it has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "it is not valid yet (its 'nbf' or 'iat' lies in the future)"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "it is meant for another audience than this API"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "it was issued by another issuer than the configured one"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "its signature does not verify"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"it lacks the '{exc.claim}' claim"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "its algorithm is not that of the issuer's key"
    return "it is not a valid token"
