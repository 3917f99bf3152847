"""Audit: replay a case's complete history, its state at any moment, tamper evidence, export,
and an access log of every audit read (issue #6; ``docs/audit.md`` for auditors).

* :mod:`~ltflow.audit.service` — :class:`Audit`, what the CLI and the HTTP API call.
* :mod:`~ltflow.audit.point_in_time` — the case as it stood at a version or a moment.
* :mod:`~ltflow.audit.chain` — the hash chain, anchors and access-log digests (pure).
* :mod:`~ltflow.audit.anchoring` — extending the chain over new events and anchoring the run;
  how anchoring runs; :mod:`~ltflow.audit.anchorer` — anchoring as a background service.
* :mod:`~ltflow.audit.verify`, :mod:`~ltflow.audit.scan`, :mod:`~ltflow.audit.findings` —
  detecting tampering (one team, or the whole store in one sweep) and naming it.
* :mod:`~ltflow.audit.export`, :mod:`~ltflow.audit.offline` — the JSON Lines export and its
  offline check.
* :mod:`~ltflow.audit.access_log` — the append-only, hash-chained access log (NEN 7513).
* :mod:`~ltflow.audit.crosschecks` — the read model and the Temporal history beside the chain.
* :mod:`~ltflow.audit.store`, :mod:`~ltflow.audit.source`, :mod:`~ltflow.audit.ledger` — where
  the trail lives, how raw events are read, and the trail's records.
* :mod:`~ltflow.audit.cli`, :mod:`~ltflow.audit.render` — ``ltflow audit ...``.
"""

from ltflow.audit.access_log import Accessor
from ltflow.audit.service import Audit

__all__ = ["Accessor", "Audit"]
