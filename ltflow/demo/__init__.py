"""The demo case and the ``ltflow demo`` command.

- ``case.toml``: the narrative case as data (a medication incident on ward B3, all seven phases);
- :mod:`ltflow.demo.narrative`: reads it into the steps that ``ltflow demo`` runs and the tests
  replay;
- :mod:`ltflow.demo.durations`: the vocabulary in which the data writes its times;
- :mod:`ltflow.demo.run`: the ``ltflow demo`` command itself.

The package imports nothing on its own: ``from ltflow.demo import narrative`` does not pull in
Temporal.
"""
