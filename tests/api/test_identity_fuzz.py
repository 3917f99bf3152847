"""Whatever a bearer token holds, the verifier answers with a person or a refusal (401), never
with anything else (a 500): headers and claims of every type, signed with the issuer's own key
or not at all."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltflow.api.errors import UnauthenticatedError
from ltflow.api.identity import ClaimMap, Identity, IdentityVerifier
from tests.api.issuer import AUDIENCE, Issuer

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    provider = Issuer()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def verifier(issuer: Issuer) -> IdentityVerifier:
    claims = ClaimMap(roles="realm_access.roles", role_map={"a": ("auditor",)})
    return IdentityVerifier(issuer.url, AUDIENCE, claims=claims, leeway=0)


def _part(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


CLAIMS = ("iss", "aud", "exp", "nbf", "iat", "sub", "name", "preferred_username", "realm_access")


@st.composite
def _claims(draw: st.DrawFn, issuer: Issuer) -> dict[str, Any]:
    """Valid claims with a few of them replaced by anything, or left out."""
    claims: dict[str, Any] = {
        "iss": issuer.url,
        "aud": draw(st.sampled_from([AUDIENCE, [AUDIENCE, "other"]])),
        "exp": 1_900_000_000,
        "sub": "u-1",
        "realm_access": {"roles": draw(st.lists(st.sampled_from(["a", "b", "auditor"])))},
    }
    claims.update(draw(st.dictionaries(st.sampled_from(CLAIMS), ANY_JSON, max_size=3)))
    for name in draw(st.sets(st.sampled_from(CLAIMS), max_size=2)):
        claims.pop(name, None)
    return claims


def _outcome(verifier: IdentityVerifier, token: str) -> Identity | None:
    try:
        return verifier.verify(token)
    except UnauthenticatedError as exc:
        refusal = exc.message
    assert token not in refusal
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_token_signed_by_the_issuer_with_any_claims_is_a_person_or_refused(
    issuer: Issuer, verifier: IdentityVerifier, data: st.DataObject
) -> None:
    claims = data.draw(_claims(issuer))
    # Signed as JWS over the raw JSON: PyJWT's own encoder would refuse the odder claims.
    body = json.dumps(claims).encode()
    token = jwt.PyJWS().encode(body, issuer.keys["k1"], "RS256", headers={"kid": "k1"})
    identity = _outcome(verifier, token)
    if identity is not None:
        assert (claims["iss"], claims["sub"]) == (issuer.url, identity.subject)
        assert AUDIENCE in (claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]])
        assert identity.roles <= {"auditor"}


@settings(max_examples=300, deadline=None)
@given(
    header=st.fixed_dictionaries(
        {},
        optional={
            "alg": st.sampled_from(["RS256", "ES256", "none", "HS256", "RS512"]) | ANY_JSON,
            "kid": st.sampled_from(["k1", "k9"]) | ANY_JSON,
            "typ": ANY_JSON,
            "crit": ANY_JSON,
            "b64": ANY_JSON,
        },
    )
    | ANY_JSON,
    payload=ANY_JSON,
    signature=st.binary(max_size=300),
)
def test_any_header_payload_and_signature_is_refused(
    verifier: IdentityVerifier, header: Any, payload: Any, signature: bytes
) -> None:
    tail = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    assert _outcome(verifier, f"{_part(header)}.{_part(payload)}.{tail}") is None
