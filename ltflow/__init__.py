"""ltflow: an engine for running Learning Teams, event-sourced and durable."""

__version__ = "0.1.0"
