"""ltflow: an engine for running Learning Teams, event-sourced and durable on Temporal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["LtflowPlugin", "Settings", "__version__"]

if TYPE_CHECKING:
    from ltflow.config import Settings
    from ltflow.workflows.plugin import LtflowPlugin


def __getattr__(name: str) -> Any:
    # Lazy, so that importing a pure module (in the workflow sandbox) never pulls in the worker.
    if name == "LtflowPlugin":
        from ltflow.workflows.plugin import LtflowPlugin

        return LtflowPlugin
    if name == "Settings":
        from ltflow.config import Settings

        return Settings
    raise AttributeError(name)
