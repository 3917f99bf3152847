"""``/docs`` and ``/redoc`` load nothing from another host (issue 15, item 7): their scripts and
styles are served by ltflow itself."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import Api

#: Anything that names a host: an absolute URL or a protocol-relative one.
EXTERNAL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+""")
ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_reference_no_external_host(api: Api, page: str) -> None:
    response = await api.http.get(page)
    assert response.status_code == 200, response.text
    html = response.text
    assert not EXTERNAL.findall(html), EXTERNAL.findall(html)
    assets = [a or b for a, b in ASSET.findall(html)]
    assert any(a.endswith(".js") for a in assets), assets
    for asset in assets:  # each one is served here
        assert asset.startswith("/"), asset
        fetched = await api.http.get(asset)
        assert fetched.status_code == 200, (asset, fetched.status_code)
