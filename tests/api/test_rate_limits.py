"""Rate limits per client (issue 15, item 7): failed authentications per remote address, writes
per token; 429 ``rate_limited`` with ``Retry-After``, and another client is not affected."""

from __future__ import annotations

import httpx
import pytest

from ltflow.api import create_app
from ltflow.api.server import running
from ltflow.config import Settings
from tests.api.conftest import INTAKE_ONLY, READER, TOKENS, WRITER, Api, bearer
from tests.api.helpers import assert_error


def _client(url: str, address: str, token: str) -> httpx.AsyncClient:
    # Another loopback address is another client, as the server sees it (127.0.0.0/8 is lo).
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=url, headers=bearer(token), transport=transport, timeout=10)


def _retry_after(response: httpx.Response) -> int:
    seconds = int(response.headers["retry-after"])
    assert 1 <= seconds <= 60, response.headers
    assert response.json()["details"]["retry_after"] == seconds
    return seconds


async def test_failed_authentication_is_limited_per_address(api: Api) -> None:
    # The defaults, as the stack sets them: 20 failures a minute.
    settings = Settings(data_dir=api.stack.settings.data_dir)
    app = create_app(
        settings, client=api.stack.ltflow, views=api.projections.runner.store, tokens=TOKENS
    )
    async with (
        running(app) as live,
        _client(live.url, "127.0.0.1", "not-a-token") as guesser,
        _client(live.url, "127.0.0.2", READER) as other,
    ):
        for _ in range(20):
            assert_error(await guesser.get("/teams"), 401, "unauthenticated")
        refused = await guesser.get("/teams")
        assert_error(refused, 429, "rate_limited")
        _retry_after(refused)
        # Over the limit, even a right guess is not told apart from a wrong one.
        assert_error(await guesser.get("/teams", headers=bearer(READER)), 429, "rate_limited")
        # Another client is not affected: its token works, its own failures count for it.
        assert (await other.get("/teams")).status_code == 200
        bad = await other.get("/teams", headers=bearer("wrong"))
        assert_error(bad, 401, "unauthenticated")


async def test_writes_are_limited_per_token(api: Api) -> None:
    settings: Settings = api.stack.settings.with_changes(rate_limit_writes="3/minute")
    app = create_app(
        settings, client=api.stack.ltflow, views=api.projections.runner.store, tokens=TOKENS
    )
    async with (
        running(app) as live,
        _client(live.url, "127.0.0.1", WRITER) as writer,
    ):
        # Bodies that are no event: refused after authorization, so cheap, and still writes.
        for _ in range(3):
            assert_error(await writer.post("/teams", json={}), 422, "invalid_event")
        refused = await writer.post("/teams", json={})
        assert_error(refused, 429, "rate_limited")
        _retry_after(refused)
        # Reads of the same token are not writes; another token still writes.
        assert (await writer.get("/teams")).status_code == 200
        other = await writer.post("/teams", json={}, headers=bearer(INTAKE_ONLY))
        assert_error(other, 422, "invalid_event")


def test_the_limits_are_read_from_the_environment_and_mistakes_named() -> None:
    settings = Settings.from_env(
        {
            "LTFLOW_RATE_LIMIT_AUTH_FAILURES": "5 per second",
            "LTFLOW_RATE_LIMIT_WRITES": "100/hour",
            "LTFLOW_MAX_READ_WAITS": "4",
            "LTFLOW_BODY_TIMEOUT": "2.5",
            "LTFLOW_HEADER_TIMEOUT": "3",
        }
    )
    assert settings.rate_limit_auth_failures == "5 per second"
    assert settings.rate_limit_writes == "100/hour"
    assert (settings.max_read_waits, settings.body_timeout, settings.header_timeout) == (4, 2.5, 3)
    defaults = Settings.from_env({})
    assert (defaults.rate_limit_auth_failures, defaults.rate_limit_writes) == (
        "20/minute",
        "600/minute",
    )
    for name, value in [
        ("LTFLOW_RATE_LIMIT_WRITES", "lots"),
        ("LTFLOW_RATE_LIMIT_AUTH_FAILURES", "20/fortnight"),
        ("LTFLOW_MAX_READ_WAITS", "-1"),
        ("LTFLOW_BODY_TIMEOUT", "0"),
        ("LTFLOW_HEADER_TIMEOUT", "soon"),
    ]:
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: value})
