"""Prometheus metrics of the HTTP API, in a registry of its own (one per app).

* ``ltflow_http_requests_total{method, route, status}`` and
  ``ltflow_http_request_duration_seconds{method, route, status}``: every answer, by route
  template (``/teams/{team_id}/events``), never by raw path, so the label set stays small.
* ``ltflow_events_accepted_total{type}``: phase events (and ``team.convened``) answered with
  success, repeats included.
* ``ltflow_events_rejected_total{code}``: intake requests answered with an error, by the
  contract's code (``invalid_event``, ``wrong_phase``, ..., ``unauthenticated``).
* ``ltflow_projections_quarantined_teams``: teams whose views stopped before an event they
  cannot fold, as the views database holds them when scraped (whichever process projects).
* ``ltflow_projections_poison_events_total``: poison events the projection service in this
  process met (each quarantined a team; a failed retry counts again).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

#: Seconds; an update through Temporal takes ~20 ms, a rejection by FastAPI well under 1 ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The API's counters and histograms."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        labels = ("method", "route", "status")
        self.requests = Counter(
            "ltflow_http_requests", "HTTP requests answered.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "ltflow_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.accepted = Counter(
            "ltflow_events_accepted",
            "Events answered with success, by type (repeats of an event_id included).",
            ("type",),
            registry=self.registry,
        )
        self.rejected = Counter(
            "ltflow_events_rejected",
            "Events answered with an error, by the contract's code.",
            ("code",),
            registry=self.registry,
        )

        self._projection_metrics()

    def _projection_metrics(self) -> None:
        self.quarantined = Gauge(
            "ltflow_projections_quarantined_teams",
            "Teams whose views stopped before an event they cannot fold (see projections status).",
            registry=self.registry,
        )
        self.poison_events = Counter(
            "ltflow_projections_poison_events",
            "Events the projection service here could not fold (each quarantined a team).",
            registry=self.registry,
        )
        self._poison_seen = 0

    def observe_projections(self, quarantined: int | None, poison_events: int | None) -> None:
        """The quarantine's size (None: could not be read) and the projection service's running
        count of poison events (None: no service in this process), just before a scrape."""
        if quarantined is not None:
            self.quarantined.set(quarantined)
        if poison_events is not None and poison_events > self._poison_seen:
            # The service counts in a plain integer; the counter takes what it added since.
            self.poison_events.inc(poison_events - self._poison_seen)
            self._poison_seen = poison_events

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def event_accepted(self, event_type: str) -> None:
        self.accepted.labels(event_type).inc()

    def event_rejected(self, code: str) -> None:
        self.rejected.labels(code).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
