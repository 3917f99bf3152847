"""Series: Learning Teams convened on a rhythm, on Temporal Schedules (docs/rhythm.md).

A series is a template (what each team is about, who is in it) and a rhythm (when a team is
convened) in a time zone. Temporal is the record of the schedule: the series definition is the
one argument of the Schedule's action (:class:`~ltflow.series.workflow.SeriesConveneWorkflow`),
read back with ``describe()``. Each firing opens a team whose ``case_ref`` derives from the
series id and the scheduled time (:func:`~ltflow.series.model.case_ref_for`), so a retry, a
catch-up or a backfill never opens a second team for the same slot.
"""
