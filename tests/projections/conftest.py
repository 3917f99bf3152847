"""Fixtures for the read models: a view store and a runner on each event-store backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import ViewStore


@pytest.fixture
def views(settings: Settings) -> Iterator[ViewStore]:
    store = ViewStore.from_settings(settings)
    yield store
    store.close()


@pytest.fixture
def runner(app: LearningTeams, views: ViewStore) -> ProjectionRunner:
    """Small batches, so that every test crosses batch boundaries."""
    return ProjectionRunner(app, views, batch_size=7)
