"""The HTTP API (contract section 4): FastAPI, thin routes over the Temporal client and the views.

``create_app(settings, client=..., views=...)`` builds the app; :mod:`ltflow.api.server` serves it.
"""

from __future__ import annotations

from ltflow.api.app import create_app

__all__ = ["create_app"]
