"""The record: the event-sourced application that loads and saves ``LearningTeam`` aggregates
(:mod:`.application`), and the one decoder of stored team events for everything that reads
them (:mod:`.decode`: projections, audit, history)."""
