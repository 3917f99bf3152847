"""Paging of ``GET /teams`` is bounded and never ignored (issue 15, item 7): an offset without a
limit is refused, numbers past the bounds are ``invalid_query`` (never a 500)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.api.helpers import assert_error, open_team


@pytest.mark.parametrize(
    "query",
    [
        "offset=9223372036854775808&limit=1",
        "offset=1000000001&limit=1",
        "limit=10001",
        "limit=0",
        "offset=-1&limit=1",
        "limit=99999999999999999999999",
    ],
)
async def test_paging_out_of_bounds_is_invalid_query(api: Api, query: str) -> None:
    response = await api.http.get(f"/teams?{query}")
    body = assert_error(response, 422, "invalid_query")
    assert body["message"].startswith("The query parameter"), body


async def test_offset_without_limit_is_refused_not_ignored(api: Api) -> None:
    await open_team(api.http)
    await open_team(api.http)
    await api.settle()
    body = assert_error(await api.http.get("/teams?offset=1"), 422, "invalid_query")
    assert "'limit'" in body["message"], body
    everything = (await api.http.get("/teams")).json()
    page = (await api.http.get("/teams?offset=1&limit=10000")).json()
    assert page == everything[1:]
