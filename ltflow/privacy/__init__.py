"""Personal data: participant keys (:mod:`.keys`), personal fields encrypted with them
(:mod:`.fields`), stored events encrypted at rest (:mod:`.at_rest`), and erasure by deleting a
participant's key (:mod:`.erasure`). Temporal payload encryption is part of the Temporal hosting
(:mod:`ltflow.workflows.codec`)."""
