"""End-to-end tests reuse the real Temporal servers of the workflow tests."""

from tests.workflows.conftest import (  # noqa: F401 - fixtures
    dev_env,
    stack_factory,
    time_env,
)
