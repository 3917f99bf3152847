"""The participant key store on both backends: one key per (team, participant), created once
and only when missing, gone for good when deleted (and never made again for that participant:
a new key would not open their old fields, and reading them would fail instead of showing
``[erased]``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ltflow.config import Settings
from ltflow.privacy.keys import KeyErasedError, KeyStore, key_store_for


@pytest.fixture
def keys(settings: Settings) -> Iterator[KeyStore]:
    store = key_store_for(settings)
    yield store
    store.close()


def test_a_key_is_created_once_and_shredded_for_good(keys: KeyStore) -> None:
    team, other = uuid.uuid4(), uuid.uuid4()
    assert keys.get(team, "p-a") is None
    first = keys.get_or_create(team, "p-a")
    assert len(first) == 32
    assert keys.get_or_create(team, "p-a") == first  # found, not made again
    assert keys.get(team, "p-a") == first
    assert keys.get_or_create(team, "p-b") != first
    assert keys.get_or_create(other, "p-a") != first  # per team
    assert keys.get_many([team]) == {(team, "p-a"): first, (team, "p-b"): keys.get(team, "p-b")}

    assert keys.delete(team, "p-a") is True
    assert keys.delete(team, "p-a") is False
    assert keys.get(team, "p-a") is None
    with pytest.raises(KeyErasedError):
        keys.get_or_create(team, "p-a")  # the shredded key never comes back, nor a new one
    assert keys.get(team, "p-a") is None
    assert keys.get(team, "p-b") is not None  # the others stay
    assert keys.get_or_create(other, "p-a") is not None  # the same id in another team


def test_an_erasure_survives_a_reopened_store(settings: Settings) -> None:
    team = uuid.uuid4()
    first = key_store_for(settings)
    try:
        first.get_or_create(team, "p-a")
        first.delete(team, "p-a")
    finally:
        first.close()
    again = key_store_for(settings)
    try:
        with pytest.raises(KeyErasedError):
            again.get_or_create(team, "p-a")
        assert again.delete(team, "p-a") is False  # idempotent
    finally:
        again.close()
