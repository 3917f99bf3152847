"""Environment → one :class:`Settings` object (contract section 6).

Nothing else in ltflow reads ``os.environ``.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from limits import RateLimitItem, parse

from ltflow.access.policy import ORG_ROLES, OrgRole
from ltflow.aggregates.bounds import DEFAULT_POLICY_FLOOR, MAX_POLICY_DURATION, MIN_POLICY_FLOOR

EventStoreKind = Literal["sqlite", "postgres"]
LogFormat = Literal["console", "json"]
T = TypeVar("T", int, float)

#: The organisation roles an identity provider's claims may give a person
#: (``LTFLOW_OIDC_ROLE_MAP``): the policy's, less ``service``, which no person is.
PERSON_ROLES: frozenset[str] = ORG_ROLES - {OrgRole.SERVICE.value}
#: Signature algorithms an OpenID Connect access token may use: public-key ones only, so a
#: token can never be "signed" with ``none`` or with a shared secret guessed from the JWKS.
OIDC_ALGORITHMS: frozenset[str] = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEFAULT_OIDC_ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True)
class Settings:
    """Everything configurable about ltflow. Every field has a default that runs on a laptop."""

    data_dir: Path = Path(".ltflow")
    event_store: EventStoreKind = "sqlite"
    #: Extra eventsourcing settings (``POSTGRES_*``, ``SQLITE_*``, cipher), passed through as given.
    event_store_env: Mapping[str, str] = field(default_factory=dict)
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    task_queue: str = "ltflow"
    temporal_tls: bool = False
    temporal_api_key: str | None = None
    #: Mutual TLS to Temporal: the client certificate and key (PEM files) this process presents,
    #: and the CA that signed the server's certificate (unset: the system's roots).
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    log_format: LogFormat = "console"
    webhook_url: str | None = None
    #: Signed Standard Webhooks endpoints and what each subscribes to (``LTFLOW_WEBHOOKS``, JSON;
    #: :func:`parse_webhooks`).
    webhooks: tuple[WebhookEndpoint, ...] = ()
    #: HTTP API bearer tokens (``LTFLOW_API_TOKENS``, JSON): token -> {actor, scopes}.
    api_tokens: Mapping[str, Any] = field(default_factory=dict)
    #: Browser origins (the Temporal UI) allowed to call the codec server (comma-separated).
    codec_cors_origins: tuple[str, ...] = ()
    #: Temporal payload keys, base64, current first (``LTFLOW_PAYLOAD_KEYS``); unset: a key file
    #: in the data dir, created on first start.
    payload_keys: str | None = None
    #: Encrypt stored events (``LTFLOW_EVENT_KEYS``: base64 keys, current first). Without keys,
    #: ``encrypt_at_rest`` uses a key file in the data dir, created on first start.
    event_keys: str | None = None
    encrypt_at_rest: bool = False
    #: The key of each stored event's MAC (``LTFLOW_EVENT_MAC_KEY``, base64 of 32 bytes); unset:
    #: a key file in the data dir, created on first start (``ltflow.eventstore.macs``).
    event_mac_key: str | None = None
    #: Port of the embedded Temporal dev server (``ltflow dev``/``ltflow worker`` without address).
    embedded_temporal_port: int = 7233
    #: The shortest policy duration a team may be convened with (``LTFLOW_MIN_POLICY_DURATION``,
    #: ISO 8601). None: not configured, which is one hour (:attr:`policy_floor`), except in
    #: ``ltflow dev`` and ``ltflow demo``, which use one second.
    min_policy_duration: timedelta | None = None
    #: Failed authentications per remote address, and writes per token, in a moving window
    #: (``LTFLOW_RATE_LIMIT_AUTH_FAILURES``, ``LTFLOW_RATE_LIMIT_WRITES``: ``"20/minute"``).
    rate_limit_auth_failures: str = "20/minute"
    rate_limit_writes: str = "600/minute"
    #: At most this many ``GET /teams/{id}?min_version=`` wait at once (``LTFLOW_MAX_READ_WAITS``);
    #: beyond it the answer is the view as it is, at once.
    max_read_waits: int = 32
    #: Seconds a client has to send a request's whole body (``LTFLOW_BODY_TIMEOUT``): 408 after.
    body_timeout: float = 10.0
    #: Seconds a client has to send a request line and headers (``LTFLOW_HEADER_TIMEOUT``).
    header_timeout: float = 10.0
    #: OpenID Connect access tokens for people (``LTFLOW_OIDC_*``, :mod:`ltflow.api.identity`):
    #: the issuer (unset: no OIDC) and the audience its tokens must name for this API.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    #: The issuer's key set; unset: the ``jwks_uri`` of its discovery document
    #: (``<issuer>/.well-known/openid-configuration``).
    oidc_jwks_url: str | None = None
    oidc_algorithms: tuple[str, ...] = DEFAULT_OIDC_ALGORITHMS
    #: Which claims give the subject (the actor), the display name and the roles (a dotted path
    #: such as ``realm_access.roles``), and which claim values give which organisation roles.
    oidc_subject_claim: str = "sub"
    oidc_name_claim: str = "name"
    oidc_roles_claim: str = "roles"
    oidc_role_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``.
    oidc_leeway: float = 30.0
    #: Seconds the issuer has to answer for its discovery document or key set.
    oidc_timeout: float = 3.0
    # --- cross-team views (issue 21) ------------------------------------------------------
    #: The key of the opaque team ids the cross-team views show (``LTFLOW_VIEW_ID_KEY``, base64
    #: of 32 bytes). Unset: the data dir's ``view.id.key``, which only ``ltflow dev`` and
    #: ``ltflow demo`` make; without either the API refuses to start
    #: (:mod:`ltflow.projections.cross_team`).
    view_id_key: str | None = None

    def __post_init__(self) -> None:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError(
                "LTFLOW_TEMPORAL_TLS_CERT and LTFLOW_TEMPORAL_TLS_KEY go together: set both "
                "for mutual TLS, or neither."
            )
        floor = self.min_policy_duration
        if floor is not None and not MIN_POLICY_FLOOR <= floor <= MAX_POLICY_DURATION:
            raise ValueError(
                f"LTFLOW_MIN_POLICY_DURATION must be between 1 second and 730 days, not {floor}."
            )
        parse_limit(self.rate_limit_auth_failures, "LTFLOW_RATE_LIMIT_AUTH_FAILURES")
        parse_limit(self.rate_limit_writes, "LTFLOW_RATE_LIMIT_WRITES")
        if self.max_read_waits < 0:
            raise ValueError(f"LTFLOW_MAX_READ_WAITS must be 0 or more, not {self.max_read_waits}.")
        for name, seconds in (
            ("LTFLOW_BODY_TIMEOUT", self.body_timeout),
            ("LTFLOW_HEADER_TIMEOUT", self.header_timeout),
        ):
            if not 0 < seconds <= 3600:
                raise ValueError(f"{name} must be seconds between 0 and 3600, not {seconds}.")
        self._check_oidc()

    def _check_oidc(self) -> None:
        """Refuse an OpenID Connect configuration that cannot work or would trust too much."""
        if self.oidc_issuer is None:
            if self.oidc_audience is not None or self.oidc_jwks_url is not None:
                raise ValueError(
                    "LTFLOW_OIDC_AUDIENCE and LTFLOW_OIDC_JWKS_URL need LTFLOW_OIDC_ISSUER: "
                    "set the issuer whose tokens the API accepts."
                )
            return
        check_oidc_url(self.oidc_issuer, "LTFLOW_OIDC_ISSUER")
        if self.oidc_jwks_url is not None:
            check_oidc_url(self.oidc_jwks_url, "LTFLOW_OIDC_JWKS_URL")
        if not self.oidc_audience or not self.oidc_audience.strip():
            raise ValueError(
                "LTFLOW_OIDC_AUDIENCE is required with LTFLOW_OIDC_ISSUER: the audience the "
                "issuer puts in tokens meant for this API (without it, a token for any other "
                "application of the issuer would be accepted)."
            )
        algorithms = set(self.oidc_algorithms)
        if not algorithms or not algorithms <= OIDC_ALGORITHMS:
            raise ValueError(
                f"LTFLOW_OIDC_ALGORITHMS must name public-key algorithms among "
                f"{sorted(OIDC_ALGORITHMS)}, not {sorted(algorithms)}."
            )
        for name, claim in (
            ("LTFLOW_OIDC_SUBJECT_CLAIM", self.oidc_subject_claim),
            ("LTFLOW_OIDC_NAME_CLAIM", self.oidc_name_claim),
            ("LTFLOW_OIDC_ROLES_CLAIM", self.oidc_roles_claim),
        ):
            if not claim or any(not part.strip() for part in claim.split(".")):
                raise ValueError(f"{name} must name a claim (a dotted path), not {claim!r}.")
        for value, roles in self.oidc_role_map.items():
            unknown = sorted(set(roles) - PERSON_ROLES)
            if not value or unknown:
                raise ValueError(
                    f"LTFLOW_OIDC_ROLE_MAP maps {value!r} to roles a person cannot hold "
                    f"{unknown}; known: {sorted(PERSON_ROLES)}."
                )
        if not 0 <= self.oidc_leeway <= 300:
            raise ValueError(
                f"LTFLOW_OIDC_LEEWAY must be seconds between 0 and 300, not {self.oidc_leeway}."
            )
        if not 0 < self.oidc_timeout <= 30:
            raise ValueError(
                f"LTFLOW_OIDC_TIMEOUT must be seconds between 0 and 30, not {self.oidc_timeout}."
            )

    @property
    def policy_floor(self) -> timedelta:
        """The floor every policy duration of a new team must reach."""
        return self.min_policy_duration or DEFAULT_POLICY_FLOOR

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the ``LTFLOW_*`` variables and the eventsourcing library's own ones."""
        env = os.environ if environ is None else environ
        store = env.get("LTFLOW_EVENT_STORE", "sqlite").strip().lower()
        if store not in ("sqlite", "postgres"):
            raise ValueError(f"LTFLOW_EVENT_STORE must be 'sqlite' or 'postgres', not {store!r}.")
        log_format = env.get("LTFLOW_LOG_FORMAT", "console").strip().lower()
        if log_format not in ("console", "json"):
            raise ValueError(f"LTFLOW_LOG_FORMAT must be 'console' or 'json', not {log_format!r}.")
        tokens_text = env.get("LTFLOW_API_TOKENS", "").strip()
        try:
            api_tokens = json.loads(tokens_text) if tokens_text else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"LTFLOW_API_TOKENS is not valid JSON: {exc.msg}.") from None
        if not isinstance(api_tokens, dict):
            raise ValueError("LTFLOW_API_TOKENS must be a JSON object: token -> {actor, scopes}.")
        passthrough = {
            k: v
            for k, v in env.items()
            if k.startswith(("POSTGRES_", "SQLITE_", "CIPHER_")) or k == "COMPRESSOR_TOPIC"
        }
        return cls(
            data_dir=Path(env.get("LTFLOW_DATA_DIR", ".ltflow")),
            event_store=store,  # type: ignore[arg-type]
            event_store_env=passthrough,
            temporal_address=env.get("LTFLOW_TEMPORAL_ADDRESS") or None,
            temporal_namespace=env.get("LTFLOW_TEMPORAL_NAMESPACE", "default"),
            task_queue=env.get("LTFLOW_TASK_QUEUE", "ltflow"),
            temporal_tls=env.get("LTFLOW_TEMPORAL_TLS", "").lower() in ("1", "true", "yes"),
            temporal_api_key=env.get("LTFLOW_TEMPORAL_API_KEY") or None,
            temporal_tls_cert=_path(env, "LTFLOW_TEMPORAL_TLS_CERT"),
            temporal_tls_key=_path(env, "LTFLOW_TEMPORAL_TLS_KEY"),
            temporal_tls_ca=_path(env, "LTFLOW_TEMPORAL_TLS_CA"),
            log_format=log_format,  # type: ignore[arg-type]
            webhook_url=env.get("LTFLOW_WEBHOOK_URL") or None,
            webhooks=parse_webhooks(env.get("LTFLOW_WEBHOOKS", "")),
            api_tokens=api_tokens,
            codec_cors_origins=tuple(
                o.strip() for o in env.get("LTFLOW_CODEC_CORS_ORIGINS", "").split(",") if o.strip()
            ),
            payload_keys=env.get("LTFLOW_PAYLOAD_KEYS") or None,
            event_keys=env.get("LTFLOW_EVENT_KEYS") or None,
            event_mac_key=env.get("LTFLOW_EVENT_MAC_KEY") or None,
            encrypt_at_rest=bool(env.get("LTFLOW_EVENT_KEYS"))
            or env.get("LTFLOW_ENCRYPT_AT_REST", "").lower() in ("1", "true", "yes"),
            embedded_temporal_port=int(env.get("LTFLOW_EMBEDDED_TEMPORAL_PORT", "7233")),
            min_policy_duration=_duration(env, "LTFLOW_MIN_POLICY_DURATION"),
            rate_limit_auth_failures=env.get("LTFLOW_RATE_LIMIT_AUTH_FAILURES", "20/minute"),
            rate_limit_writes=env.get("LTFLOW_RATE_LIMIT_WRITES", "600/minute"),
            max_read_waits=_number(env, "LTFLOW_MAX_READ_WAITS", int, 32),
            body_timeout=_number(env, "LTFLOW_BODY_TIMEOUT", float, 10.0),
            header_timeout=_number(env, "LTFLOW_HEADER_TIMEOUT", float, 10.0),
            oidc_issuer=env.get("LTFLOW_OIDC_ISSUER", "").strip() or None,
            oidc_audience=env.get("LTFLOW_OIDC_AUDIENCE", "").strip() or None,
            oidc_jwks_url=env.get("LTFLOW_OIDC_JWKS_URL", "").strip() or None,
            oidc_algorithms=tuple(
                a.strip() for a in env.get("LTFLOW_OIDC_ALGORITHMS", "").split(",") if a.strip()
            )
            or DEFAULT_OIDC_ALGORITHMS,
            oidc_subject_claim=env.get("LTFLOW_OIDC_SUBJECT_CLAIM", "").strip() or "sub",
            oidc_name_claim=env.get("LTFLOW_OIDC_NAME_CLAIM", "").strip() or "name",
            oidc_roles_claim=env.get("LTFLOW_OIDC_ROLES_CLAIM", "").strip() or "roles",
            oidc_role_map=_role_map(env.get("LTFLOW_OIDC_ROLE_MAP", "")),
            oidc_leeway=_number(env, "LTFLOW_OIDC_LEEWAY", float, 30.0),
            oidc_timeout=_number(env, "LTFLOW_OIDC_TIMEOUT", float, 3.0),
            view_id_key=env.get("LTFLOW_VIEW_ID_KEY") or None,
        )

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def event_key_file(self) -> Path:
        return self.data_dir / "event.keys"

    @property
    def event_mac_key_file(self) -> Path:
        return self.data_dir / "event.mac.key"

    @property
    def view_id_key_file(self) -> Path:
        """The opaque view ids' key that ``ltflow dev``/``demo`` keep in their data dir."""
        return self.data_dir / "view.id.key"

    @property
    def payload_key_file(self) -> Path:
        return self.data_dir / "payload.keys"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "events.sqlite3"

    def eventsourcing_env(self) -> dict[str, str]:
        """The environment the eventsourcing ``Application`` is constructed with."""
        env: dict[str, str] = {}
        if self.event_store == "postgres":
            env["PERSISTENCE_MODULE"] = "eventsourcing.postgres"
            env.setdefault("POSTGRES_DBNAME", "postgres")
            env.setdefault("POSTGRES_HOST", "127.0.0.1")
            env.setdefault("POSTGRES_PORT", "5432")
            env.setdefault("POSTGRES_USER", "postgres")
            env.setdefault("POSTGRES_PASSWORD", "")
        else:
            env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
            env["SQLITE_DBNAME"] = str(self.sqlite_path)
            env["SQLITE_LOCK_TIMEOUT"] = "10"
        env.update(self.event_store_env)
        return env


def parse_limit(text: str, name: str) -> RateLimitItem:
    """``"20/minute"`` as a limit; ``ValueError`` naming the setting when it does not parse."""
    try:
        return parse(text)
    except ValueError:
        raise ValueError(
            f"{name} must be a rate such as '20/minute' or '5 per second', not {text!r}."
        ) from None


def check_oidc_url(url: str, name: str) -> None:
    """Raise ``ValueError`` unless ``url`` may serve OpenID Connect keys: HTTPS, or plain HTTP
    on this machine only (tests, a provider beside the API), since a key set fetched in the
    clear can be replaced on the way."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and _is_loopback(host):
        return
    raise ValueError(
        f"{name} must be an https:// URL (http:// only on a loopback address), not {url!r}."
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _role_map(text: str) -> dict[str, tuple[str, ...]]:
    """``LTFLOW_OIDC_ROLE_MAP``: a JSON object of claim value -> role or list of roles."""
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"LTFLOW_OIDC_ROLE_MAP is not valid JSON: {exc.msg}.") from None
    if not isinstance(config, dict):
        raise ValueError("LTFLOW_OIDC_ROLE_MAP must be a JSON object: claim value -> roles.")
    roles: dict[str, tuple[str, ...]] = {}
    for value, target in config.items():
        names = [target] if isinstance(target, str) else target
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(
                f"LTFLOW_OIDC_ROLE_MAP must map {value!r} to a role or a list of roles."
            )
        roles[value] = tuple(names)
    return roles


def _path(env: Mapping[str, str], name: str) -> Path | None:
    text = env.get(name, "").strip()
    return Path(text) if text else None


def _number(env: Mapping[str, str], name: str, kind: Callable[[str], T], default: T) -> T:
    """A number from the environment (``kind`` is ``int`` or ``float``), or ``default``."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}.") from None


def _duration(env: Mapping[str, str], name: str) -> timedelta | None:
    """An ISO 8601 duration (``PT1H``, ``P1D``) from the environment, or None when unset."""
    from pydantic import TypeAdapter, ValidationError

    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        return TypeAdapter(timedelta).validate_python(text)
    except ValidationError:
        raise ValueError(
            f"{name} must be an ISO 8601 duration such as PT1H, not {text!r}."
        ) from None


# --- outbound webhooks (issue 16): LTFLOW_WEBHOOKS ------------------------------------------------


@dataclass(frozen=True)
class WebhookEndpoint:
    """One signed endpoint (Standard Webhooks) and its subscriptions: event types (exact, or a
    pattern such as ``safety_net.*``), teams (ids) and series (``case_ref`` prefix
    ``series-<id>-``). An empty filter takes everything; teams and series together take a
    team that either names."""

    name: str
    url: str
    secret: str = field(repr=False)
    types: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    series: tuple[str, ...] = ()

    def takes(self, type_: str, team_id: str, case_ref: str | None) -> bool:
        """Whether a notification of this type, for this team, goes to this endpoint."""
        from fnmatch import fnmatchcase

        if self.types and not any(fnmatchcase(type_, pattern) for pattern in self.types):
            return False
        if not (self.teams or self.series):
            return True
        in_series = case_ref is not None and any(
            case_ref.startswith(f"series-{series}-") for series in self.series
        )
        return team_id in self.teams or in_series


_ENDPOINT_KEYS = {"name", "url", "secret", "types", "teams", "series"}


def parse_webhooks(text: str) -> tuple[WebhookEndpoint, ...]:
    """``LTFLOW_WEBHOOKS``: a JSON list of ``{name, url, secret, types?, teams?, series?}``.
    Anything wrong is a ``ValueError`` with a sentence naming the endpoint and the field."""
    if not text.strip():
        return ()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"LTFLOW_WEBHOOKS is not valid JSON: {exc.msg}.") from None
    if not isinstance(raw, list):
        raise ValueError("LTFLOW_WEBHOOKS must be a JSON list of endpoints {name, url, secret}.")
    endpoints = tuple(_endpoint(i, item) for i, item in enumerate(raw, start=1))
    names = [e.name for e in endpoints]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ValueError(f"LTFLOW_WEBHOOKS names endpoint {duplicate!r} twice.")
    return endpoints


def _endpoint(number: int, item: object) -> WebhookEndpoint:
    where = f"LTFLOW_WEBHOOKS endpoint {number}"
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be an object {{name, url, secret}}.")
    unknown = sorted(set(item) - _ENDPOINT_KEYS)
    if unknown:
        raise ValueError(f"{where} has unknown fields: {', '.join(unknown)}.")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where} needs a name.")
    where = f"{where} ({name!r})"
    url = item.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or " " in url:
        raise ValueError(f"{where}: url must be an http:// or https:// address.")
    secret = item.get("secret")
    if not isinstance(secret, str) or not _is_webhook_secret(secret):
        raise ValueError(
            f"{where}: secret must be a Standard Webhooks secret ('whsec_' and base64 bytes)."
        )
    lists = {key: _strings(where, key, item.get(key)) for key in ("types", "teams", "series")}
    _check_types(where, lists["types"])
    _check_teams(where, lists["teams"])
    return WebhookEndpoint(name=name.strip(), url=url, secret=secret, **lists)


def _strings(where: str, key: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
        raise ValueError(f"{where}: {key} must be a list of non-empty strings.")
    return tuple(s.strip() for s in value)


def _is_webhook_secret(secret: str) -> bool:
    import base64
    import binascii

    body = secret.removeprefix("whsec_")
    try:
        return secret.startswith("whsec_") and len(base64.b64decode(body, validate=True)) >= 16
    except (binascii.Error, ValueError):
        return False


def _check_types(where: str, patterns: tuple[str, ...]) -> None:
    from fnmatch import fnmatchcase

    from ltflow.aggregates.vocabulary import ALL_TYPES

    for pattern in patterns:
        if not any(fnmatchcase(name, pattern) for name in ALL_TYPES):
            raise ValueError(f"{where}: types names no event type: {pattern!r}.")


def _check_teams(where: str, teams: tuple[str, ...]) -> None:
    from uuid import UUID

    for team in teams:
        try:
            UUID(team)
        except ValueError:
            raise ValueError(f"{where}: teams must be team ids (UUIDs), not {team!r}.") from None
