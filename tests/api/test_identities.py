"""People's identities (issue 14, item 1): OpenID Connect access tokens from a real issuer on
loopback (tests/api/issuer.py), verified through the real app on the Temporal dev server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ltflow.api import create_app
from ltflow.api.identity import IdentityVerifier
from ltflow.api.server import running
from ltflow.config import Settings
from tests.api.conftest import READER, TOKENS, WRITER, Api, bearer
from tests.api.helpers import assert_error, new_case, open_team
from tests.api.issuer import AUDIENCE, Issuer, rsa_key, silent_issuer, unsigned

SUBJECT = "5b0e7c1a-3f2d-4e8b-9a6c-1d2e3f4a5b6c"
INVITE = {
    "type": "participant.invited",
    "event_id": "inv-oidc",
    "participant_id": "p-oidc",
    "role": "nurse",
}
KEYCLOAK = {
    "oidc_roles_claim": "realm_access.roles",
    "oidc_role_map": {
        "ltflow-auditor": ("auditor",),
        "ltflow-quality": ("quality_officer", "facilitator"),
    },
}


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    provider = Issuer()
    yield provider
    provider.stop()


def oidc_settings(api: Api, issuer_url: str, **changes: Any) -> Settings:
    settings: Settings = api.stack.settings.with_changes(
        rate_limit_auth_failures="100000/minute",
        rate_limit_writes="100000/minute",
        oidc_issuer=issuer_url,
        oidc_audience=AUDIENCE,
        **changes,
    )
    return settings


@asynccontextmanager
async def serving(
    api: Api, settings: Settings, identities: IdentityVerifier | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with these settings, over the shared stack; a client without a token."""
    app = create_app(
        settings,
        client=api.stack.ltflow,
        views=api.projections.runner.store,
        tokens=TOKENS,
        projections=api.projections,
        audit=api.app.state.ltflow.audit,
        identities=identities,
    )
    async with running(app) as live, httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        yield http


async def test_a_person_reads_teams_and_is_the_actor_of_every_event_they_send(
    api: Api, issuer: Issuer
) -> None:
    async with serving(api, oidc_settings(api, issuer.url, **KEYCLOAK)) as http:
        # A trained facilitator (a role from the Keycloak claim) opens a team and so
        # facilitates it; without that role the same person may not open one.
        person = bearer(issuer.token(realm_access={"roles": ["ltflow-quality"]}))
        assert (await http.get("/teams", headers=person)).status_code == 200
        plain = await http.post("/teams", json=new_case("OIDC"), headers=bearer(issuer.token()))
        assert_error(plain, 403, "forbidden")
        created = await http.post("/teams", json=new_case("OIDC"), headers=person)
        assert created.status_code == 201, created.text
        team_id = created.json()["team_id"]
        sent = await http.post(f"/teams/{team_id}/events", json=INVITE, headers=person)
        assert sent.status_code == 200, sent.text
        actors = {fact.type: fact.actor for fact in api.stored(team_id)}
        assert actors["team.convened"] == actors["participant.invited"] == SUBJECT

        # An auditor (a role from the Keycloak claim) reads the same actors in the history; the
        # person without that role may not read it.
        auditor = issuer.token(sub="auditor-8c2d", realm_access={"roles": ["ltflow-auditor"]})
        history = await http.get(f"/teams/{team_id}/history", headers=bearer(auditor))
        assert history.status_code == 200, history.text
        assert {event["actor"] for event in history.json()} == {SUBJECT, "system"}
        refused = await http.get(f"/teams/{team_id}/history", headers=person)
        assert_error(refused, 403, "forbidden")


def _other_key(issuer: Issuer) -> str:
    return issuer.token(key=rsa_key())


def _expired(issuer: Issuer) -> str:
    return issuer.token(iat=int(time.time()) - 3600, exp=int(time.time()) - 600)


def _future(issuer: Issuer) -> str:
    return issuer.token(nbf=int(time.time()) + 600)


def _hs256(issuer: Issuer) -> str:
    return jwt.encode({"sub": SUBJECT, "aud": AUDIENCE, "iss": issuer.url}, "s" * 32, "HS256")


def _none(issuer: Issuer) -> str:
    now = int(time.time())
    claims = {"sub": SUBJECT, "aud": AUDIENCE, "iss": issuer.url, "exp": now + 300}
    return unsigned(claims)


REFUSED: list[tuple[str, Callable[[Issuer], str], str]] = [
    ("forged", _other_key, "signature does not verify"),
    ("expired", _expired, "has expired"),
    ("wrong audience", lambda i: i.token(aud="another-app"), "another audience"),
    ("wrong issuer", lambda i: i.token(iss="https://idp.example.org"), "another issuer"),
    ("not yet valid", _future, "not valid yet"),
    ("alg none", _none, "not signed (alg 'none')"),
    ("shared secret", _hs256, "signed with 'HS256'"),
    ("unknown kid", lambda i: i.token(kid="k9", key=rsa_key()), "key the issuer does not"),
    ("no expiry", lambda i: i.token(exp=None), "lacks the 'exp' claim"),
    ("subject system", lambda i: i.token(sub="System"), "reserved"),
    ("no subject", lambda i: i.token(sub=None), "cannot name the sender"),
    ("a service's actor", lambda i: i.token(sub="incident-system"), "a configured service"),
]


@pytest.mark.parametrize(("token_of", "why"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
async def test_a_bad_token_is_refused_with_what_is_wrong_and_nothing_stored(
    api: Api, issuer: Issuer, token_of: Callable[[Issuer], str], why: str
) -> None:
    token = token_of(issuer)
    before = api.last_notification()
    async with serving(api, oidc_settings(api, issuer.url)) as http:
        for response in (
            await http.get("/teams", headers=bearer(token)),
            await http.post("/teams", json=new_case("OIDC"), headers=bearer(token)),
        ):
            body = assert_error(response, 401, "unauthenticated")
            assert why in body["message"]
            assert token not in response.text
    assert api.last_notification() == before


async def test_a_token_within_the_leeway_is_accepted_and_beyond_it_refused(
    api: Api, issuer: Issuer
) -> None:
    just_expired = issuer.token(exp=int(time.time()) - 10)
    async with serving(api, oidc_settings(api, issuer.url, oidc_leeway=60)) as http:
        assert (await http.get("/teams", headers=bearer(just_expired))).status_code == 200
    async with serving(api, oidc_settings(api, issuer.url, oidc_leeway=0)) as http:
        assert_error(await http.get("/teams", headers=bearer(just_expired)), 401, "unauthenticated")


async def test_keys_are_cached_and_an_unknown_kid_refreshes_at_most_once_per_cooldown(
    api: Api, issuer: Issuer
) -> None:
    async with serving(api, oidc_settings(api, issuer.url)) as http:
        for _ in range(3):
            assert (await http.get("/teams", headers=bearer(issuer.token()))).status_code == 200
        assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)
        # Made-up key ids within the cooldown: refused without asking the issuer again.
        for n in range(5):
            made_up = issuer.token(kid=f"x{n}", key=rsa_key())
            assert_error(await http.get("/teams", headers=bearer(made_up)), 401, "unauthenticated")
        assert issuer.jwks_fetches == 1

    # Without a cooldown (a key rotation just happened): an unknown kid refreshes once.
    verifier = IdentityVerifier(issuer.url, AUDIENCE, refresh_cooldown=0)
    async with serving(api, oidc_settings(api, issuer.url), identities=verifier) as http:
        assert (await http.get("/teams", headers=bearer(issuer.token()))).status_code == 200
        fetched = issuer.jwks_fetches
        issuer.keys["k2"] = rsa_key()  # the issuer rotates in a new key
        rotated = issuer.token(kid="k2")
        assert (await http.get("/teams", headers=bearer(rotated))).status_code == 200
        assert issuer.jwks_fetches == fetched + 1
        made_up = issuer.token(kid="k9", key=rsa_key())
        assert_error(await http.get("/teams", headers=bearer(made_up)), 401, "unauthenticated")
        assert issuer.jwks_fetches == fetched + 2


async def test_an_issuer_that_is_down_answers_503_at_once_and_service_tokens_still_work(
    api: Api, issuer: Issuer
) -> None:
    token = issuer.token()
    issuer.stop()
    async with serving(api, oidc_settings(api, issuer.url)) as http:
        started = time.monotonic()
        for _ in range(3):
            response = await http.get("/teams", headers=bearer(token))
            body = assert_error(response, 503, "unavailable")
            assert "identity provider" in body["message"]
        assert time.monotonic() - started < 5
        assert (await http.get("/teams", headers=bearer(READER))).status_code == 200


async def test_a_hung_issuer_answers_503_within_the_timeout(api: Api, issuer: Issuer) -> None:
    with silent_issuer() as url:
        settings = oidc_settings(api, url, oidc_timeout=1.0)
        token = jwt.encode(
            {"iss": url, "aud": AUDIENCE, "sub": SUBJECT, "exp": int(time.time()) + 60},
            issuer.keys["k1"],
            "RS256",
            headers={"kid": "k1"},
        )
        async with serving(api, settings) as http:
            started = time.monotonic()
            # Eight at once: the ones that waited behind the first are not each held for
            # another timeout (that would be eight seconds).
            answers = await asyncio.gather(
                *(http.get("/teams", headers=bearer(token)) for _ in range(8))
            )
            for response in answers:
                assert_error(response, 503, "unavailable")
            assert time.monotonic() - started < 5


async def test_cached_keys_keep_people_signed_in_while_the_issuer_is_down(
    api: Api, issuer: Issuer
) -> None:
    async with serving(api, oidc_settings(api, issuer.url)) as http:
        assert (await http.get("/teams", headers=bearer(issuer.token()))).status_code == 200
        later = issuer.token(sub="another-person")
        issuer.stop()
        assert (await http.get("/teams", headers=bearer(later))).status_code == 200


async def test_a_configured_key_set_url_needs_no_discovery(api: Api, issuer: Issuer) -> None:
    settings = oidc_settings(api, issuer.url, oidc_jwks_url=f"{issuer.url}/jwks")
    async with serving(api, settings) as http:
        assert (await http.get("/teams", headers=bearer(issuer.token()))).status_code == 200
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (0, 1)


async def test_an_es256_key_of_the_issuer_is_accepted_by_default(api: Api, issuer: Issuer) -> None:
    issuer.keys["ec1"] = ec.generate_private_key(ec.SECP256R1())
    async with serving(api, oidc_settings(api, issuer.url)) as http:
        token = issuer.token(kid="ec1")
        assert jwt.get_unverified_header(token)["alg"] == "ES256"
        assert (await http.get("/teams", headers=bearer(token))).status_code == 200
    # Accepted algorithms are configuration: with RS256 only, the same token is refused.
    async with serving(api, oidc_settings(api, issuer.url, oidc_algorithms=("RS256",))) as http:
        refused = await http.get("/teams", headers=bearer(issuer.token(kid="ec1")))
        body = assert_error(refused, 401, "unauthenticated")
        assert "signed with 'ES256'" in body["message"]


async def test_discovery_that_names_another_issuer_is_not_trusted(api: Api, issuer: Issuer) -> None:
    issuer.claimed_issuer = "https://idp.example.org"
    async with serving(api, oidc_settings(api, issuer.url)) as http:
        response = await http.get("/teams", headers=bearer(issuer.token()))
        assert_error(response, 503, "unavailable")
    assert issuer.jwks_fetches == 0


async def test_organisation_roles_come_from_the_mapped_claim_values(
    api: Api, issuer: Issuer
) -> None:
    team_id = await open_team(api.http)
    history = f"/teams/{team_id}/history"

    def with_roles(*values: str) -> dict[str, str]:
        return bearer(issuer.token(realm_access={"roles": list(values)}))

    async with serving(api, oidc_settings(api, issuer.url, **KEYCLOAK)) as http:
        assert (await http.get(history, headers=with_roles("ltflow-auditor"))).status_code == 200
        for values in (("ltflow-quality",), ("auditor", "admin"), ()):
            assert_error(await http.get(history, headers=with_roles(*values)), 403, "forbidden")
            assert (await http.get("/teams", headers=with_roles(*values))).status_code == 200
    # The same claim read at another path (Entra ID's top-level "roles") gives nothing here.
    entra = bearer(issuer.token(roles=["ltflow-auditor"]))
    async with serving(api, oidc_settings(api, issuer.url, **KEYCLOAK)) as http:
        assert_error(await http.get(history, headers=entra), 403, "forbidden")
    entra_settings = oidc_settings(api, issuer.url, oidc_role_map={"ltflow-auditor": ("auditor",)})
    async with serving(api, entra_settings) as http:
        assert (await http.get(history, headers=entra)).status_code == 200


async def test_service_tokens_work_as_before_beside_people(api: Api, issuer: Issuer) -> None:
    async with serving(api, oidc_settings(api, issuer.url)) as http:
        created = await http.post("/teams", json=new_case("SVC"), headers=bearer(WRITER))
        assert created.status_code == 201
        assert api.stored(created.json()["team_id"])[0].actor == "incident-system"
        read_only = await http.post("/teams", json=new_case("SVC"), headers=bearer(READER))
        assert_error(read_only, 403, "forbidden")
        assert_error(await http.get("/teams", headers=bearer("nope")), 401, "unauthenticated")


async def test_a_jwt_without_configured_issuer_is_just_an_unknown_token(
    api: Api, issuer: Issuer
) -> None:
    async with serving(api, api.stack.settings) as http:
        response = await http.get("/teams", headers=bearer(issuer.token()))
        body = assert_error(response, 401, "unauthenticated")
        assert "not valid" in body["message"]
    assert issuer.jwks_fetches == 0


async def test_failed_tokens_count_towards_the_address_limit(api: Api, issuer: Issuer) -> None:
    settings = oidc_settings(api, issuer.url).with_changes(rate_limit_auth_failures="3/minute")
    async with serving(api, settings) as http:
        expired = bearer(_expired(issuer))
        for _ in range(3):
            assert_error(await http.get("/teams", headers=expired), 401, "unauthenticated")
        assert_error(await http.get("/teams", headers=expired), 429, "rate_limited")
        # Over the limit, even a valid token is not looked at.
        assert_error(await http.get("/teams", headers=bearer(issuer.token())), 429, "rate_limited")
