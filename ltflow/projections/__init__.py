"""Read models for any frontend, kept by projections exactly once and rebuildable from the log.

Each module is one read model: a pure part (rows from one team's fold, and views from rows)
and its queries. :mod:`ltflow.projections.team_detail` holds the fold every read model derives
from; :mod:`ltflow.projections.runner` keeps the views in step with the event store.
"""
