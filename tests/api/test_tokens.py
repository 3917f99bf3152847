"""API token configuration (``LTFLOW_API_TOKENS``): what is accepted, and every mistake named."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from ltflow.api.auth import SCOPES, Principal, TokenRegistry, ephemeral_token, registry_for
from ltflow.config import Settings

SECRET = "a-long-enough-secret-token"


def test_tokens_map_to_their_actor_and_scopes_by_value_or_by_digest() -> None:
    digest = hashlib.sha256(b"hashed-token-value").hexdigest()
    registry = TokenRegistry.from_json(
        json.dumps(
            {
                SECRET: {"actor": "incident-system", "scopes": ["events:write"]},
                f"sha256:{digest}": {"actor": "auditor", "scopes": ["audit:read", "teams:read"]},
            }
        )
    )
    assert registry.authenticate(SECRET) == Principal(
        "incident-system", frozenset({"events:write"})
    )
    found = registry.authenticate("hashed-token-value")
    assert found is not None
    assert found.actor == "auditor"
    assert registry.authenticate(f"sha256:{digest}") is None  # the digest is not the token
    assert registry.authenticate(SECRET[:-1]) is None
    assert registry.authenticate("") is None


def test_no_configuration_means_no_tokens() -> None:
    assert len(TokenRegistry.from_json(None)) == 0
    assert len(TokenRegistry.from_json("  ")) == 0
    assert len(registry_for(Settings())) == 0


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ("[1, 2]", "JSON object"),
        ("{not json", "not valid JSON"),
        ({" padded ": {"actor": "a", "scopes": []}}, "non-empty string"),
        ({"": {"actor": "a", "scopes": []}}, "non-empty string"),
        ({"sha256:abc": {"actor": "a", "scopes": []}}, "64 hex digits"),
        ({SECRET: ["events:write"]}, "'actor' and 'scopes'"),
        ({SECRET: {"scopes": ["events:write"]}}, "non-empty 'actor'"),
        ({SECRET: {"actor": "system", "scopes": []}}, "reserved"),
        ({SECRET: {"actor": "System", "scopes": []}}, "reserved"),
        ({SECRET: {"actor": "fac\ningrid", "scopes": []}}, "control characters"),
        ({SECRET: {"actor": "x" * 300, "scopes": []}}, "at most 256"),
        ({SECRET: {"actor": "a", "scopes": "events:write"}}, "list of strings"),
        ({SECRET: {"actor": "a", "scopes": ["events:read"]}}, "unknown scopes ['events:read']"),
    ],
)
def test_a_mistake_in_the_configuration_is_named(config: Any, complaint: str) -> None:
    text = config if isinstance(config, str) else json.dumps(config)
    with pytest.raises(ValueError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        TokenRegistry.from_json(text)


def test_the_same_token_twice_is_refused_even_once_hashed() -> None:
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    config = {
        SECRET: {"actor": "a", "scopes": []},
        f"sha256:{digest}": {"actor": "b", "scopes": []},
    }
    with pytest.raises(ValueError, match="twice"):
        TokenRegistry.from_mapping(config)


def test_an_ephemeral_token_has_every_scope() -> None:
    registry, token = ephemeral_token()
    principal = registry.authenticate(token)
    assert principal is not None
    assert principal.scopes == SCOPES
    assert len(token) >= 32
