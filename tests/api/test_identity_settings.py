"""The identity configuration (``LTFLOW_OIDC_*``, the roles of service tokens): what is read, and
every mistake named before the process starts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ltflow.access.policy import ORG_ROLES
from ltflow.api.auth import Principal, TokenRegistry, person_principal
from ltflow.api.identity import ClaimMap, Identity, IdentityVerifier, looks_like_jwt
from ltflow.cli import USAGE, main
from ltflow.config import PERSON_ROLES, Settings

ISSUER = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
BASE = {"LTFLOW_OIDC_ISSUER": ISSUER, "LTFLOW_OIDC_AUDIENCE": "api://ltflow"}


def test_the_oidc_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "LTFLOW_OIDC_JWKS_URL": "https://login.microsoftonline.com/common/discovery/v2.0/keys",
            "LTFLOW_OIDC_ALGORITHMS": "RS256, PS256",
            "LTFLOW_OIDC_SUBJECT_CLAIM": "oid",
            "LTFLOW_OIDC_NAME_CLAIM": "given_name",
            "LTFLOW_OIDC_ROLES_CLAIM": "realm_access.roles",
            "LTFLOW_OIDC_ROLE_MAP": json.dumps(
                {"Ltflow.Audit": "auditor", "Ltflow.Quality": ["quality_officer", "facilitator"]}
            ),
            "LTFLOW_OIDC_LEEWAY": "5",
            "LTFLOW_OIDC_TIMEOUT": "2",
        }
    )
    assert settings.oidc_issuer == ISSUER
    assert settings.oidc_audience == "api://ltflow"
    assert settings.oidc_algorithms == ("RS256", "PS256")
    assert (settings.oidc_subject_claim, settings.oidc_name_claim) == ("oid", "given_name")
    assert settings.oidc_role_map == {
        "Ltflow.Audit": ("auditor",),
        "Ltflow.Quality": ("quality_officer", "facilitator"),
    }
    assert (settings.oidc_leeway, settings.oidc_timeout) == (5.0, 2.0)
    verifier = IdentityVerifier.from_settings(settings)
    assert verifier is not None
    assert verifier.claims.roles == "realm_access.roles"


def test_without_an_issuer_there_is_no_verifier_and_the_defaults_hold() -> None:
    settings = Settings.from_env({})
    assert IdentityVerifier.from_settings(settings) is None
    assert settings.oidc_algorithms == ("RS256", "ES256")
    assert (settings.oidc_subject_claim, settings.oidc_roles_claim) == ("sub", "roles")


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"LTFLOW_OIDC_ISSUER": ISSUER}, "LTFLOW_OIDC_AUDIENCE is required"),
        ({"LTFLOW_OIDC_AUDIENCE": "api://ltflow"}, "need LTFLOW_OIDC_ISSUER"),
        ({**BASE, "LTFLOW_OIDC_ISSUER": "http://idp.example.org/realms/x"}, "https://"),
        ({**BASE, "LTFLOW_OIDC_ISSUER": "idp.example.org"}, "https://"),
        ({**BASE, "LTFLOW_OIDC_JWKS_URL": "http://10.0.0.5/keys"}, "LTFLOW_OIDC_JWKS_URL must"),
        ({**BASE, "LTFLOW_OIDC_JWKS_URL": "file:///etc/keys.json"}, "LTFLOW_OIDC_JWKS_URL must"),
        ({**BASE, "LTFLOW_OIDC_ALGORITHMS": "none"}, "public-key algorithms"),
        ({**BASE, "LTFLOW_OIDC_ALGORITHMS": "RS256,HS256"}, "public-key algorithms"),
        ({**BASE, "LTFLOW_OIDC_ROLE_MAP": '{"x": "admin"}'}, r"cannot hold \['admin'\]"),
        ({**BASE, "LTFLOW_OIDC_ROLE_MAP": '{"x": "service"}'}, r"cannot hold \['service'\]"),
        ({**BASE, "LTFLOW_OIDC_ROLE_MAP": '{"x": ["auditor", 3]}'}, "a role or a list"),
        ({**BASE, "LTFLOW_OIDC_ROLE_MAP": "[]"}, "JSON object"),
        ({**BASE, "LTFLOW_OIDC_ROLE_MAP": "{nope"}, "not valid JSON"),
        ({**BASE, "LTFLOW_OIDC_ROLES_CLAIM": "realm_access..roles"}, "dotted path"),
        ({**BASE, "LTFLOW_OIDC_LEEWAY": "3600"}, "between 0 and 300"),
        ({**BASE, "LTFLOW_OIDC_LEEWAY": "soon"}, "must be a number"),
        ({**BASE, "LTFLOW_OIDC_TIMEOUT": "0"}, "between 0 and 30"),
    ],
)
def test_a_mistake_in_the_oidc_settings_stops_the_start(
    env: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint) as raised:
        Settings.from_env(env)
    assert str(raised.value).endswith(".")


def test_a_bad_oidc_setting_stops_the_command_line_with_its_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LTFLOW_OIDC_ISSUER", "http://idp.example-hospital.nl/realms/care")
    monkeypatch.setenv("LTFLOW_OIDC_AUDIENCE", "ltflow-api")
    assert main(["api"]) == USAGE
    assert "LTFLOW_OIDC_ISSUER must be an https:// URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1:8080", "http://localhost:8080/realms/ltflow", "http://[::1]:9"]
)
def test_plain_http_is_allowed_on_loopback_only(issuer: str) -> None:
    assert Settings.from_env({**BASE, "LTFLOW_OIDC_ISSUER": issuer}).oidc_issuer == issuer


def test_claims_give_subject_name_and_only_the_mapped_roles() -> None:
    claims = ClaimMap(
        roles="realm_access.roles",
        role_map={"kc-audit": ("auditor",), "kc-fac": ("facilitator",)},
    )
    token: dict[str, Any] = {
        "sub": "u-1",
        "preferred_username": "ingrid",
        "realm_access": {"roles": ["kc-audit", "kc-fac", "offline_access", 7]},
    }
    assert claims.subject_of(token) == "u-1"
    assert claims.name_of(token) == "ingrid"  # no 'name': the fallback
    assert claims.name_of({**token, "name": "Ingrid de Vries"}) == "Ingrid de Vries"
    assert claims.name_of({"name": "a\nb"}) is None  # a name that would forge a log line
    assert claims.roles_of(token) == {"auditor", "facilitator"}
    assert claims.roles_of({"realm_access": "kc-audit"}) == frozenset()
    assert claims.roles_of({"realm_access": {"roles": "kc-audit"}}) == {"auditor"}
    assert claims.roles_of({}) == frozenset()


@pytest.mark.parametrize(
    ("roles", "audit"),
    [({"auditor"}, True), ({"privacy_officer"}, True), ({"quality_officer", "facilitator"}, False)],
)
def test_a_person_may_read_teams_and_send_and_only_auditors_read_the_audit(
    roles: set[str], audit: bool
) -> None:
    principal = person_principal(Identity("u-1", "Ingrid", frozenset(roles)))
    assert principal.kind == "person"
    assert (principal.actor, principal.name, principal.roles) == ("u-1", "Ingrid", roles)
    expected = {"teams:read", "events:write"} | ({"audit:read"} if audit else set())
    assert principal.scopes == expected


def test_a_person_may_hold_every_organisation_role_but_service() -> None:
    assert ORG_ROLES - {"service"} == PERSON_ROLES
    assert {"quality_officer", "auditor", "privacy_officer", "facilitator"} <= PERSON_ROLES


def test_a_service_token_may_carry_known_roles_and_an_unknown_one_is_named() -> None:
    registry = TokenRegistry.from_mapping(
        {
            "svc-secret-token": {
                "actor": "audit-tool",
                "scopes": ["audit:read"],
                "roles": ["auditor"],
            }
        }
    )
    assert registry.authenticate("svc-secret-token") == Principal(
        "audit-tool", frozenset({"audit:read"}), kind="service", roles=frozenset({"auditor"})
    )
    for roles, complaint in ((["admin"], r"unknown roles \['admin'\]"), ("auditor", "list")):
        spec = {"actor": "a", "scopes": [], "roles": roles}
        with pytest.raises(ValueError, match=complaint):
            TokenRegistry.from_mapping({"svc-secret-token": spec})


def test_only_the_compact_jws_shape_goes_to_the_verifier() -> None:
    assert looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
    assert looks_like_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    for token in ("a-static-token", "a.b", "a.b.c.d", "a b.c.d", "x.y.z\n"):
        assert not looks_like_jwt(token)


def test_every_oidc_setting_read_is_documented() -> None:
    root = Path(__file__).parents[2]
    read = set(re.findall(r"LTFLOW_OIDC_[A-Z_]+", (root / "ltflow/config.py").read_text()))
    assert len(read) == 10
    for doc in ("README.md", "docs/access.md"):
        documented = set(re.findall(r"LTFLOW_OIDC_[A-Z_]+", (root / doc).read_text()))
        assert read <= documented, (doc, sorted(read - documented))
