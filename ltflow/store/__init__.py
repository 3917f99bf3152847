"""The one storage layer under ltflow's own tables and its reads of the event store.

* :mod:`~ltflow.store.sql`: a transaction (:class:`~ltflow.store.sql.Tx`) with one SQL dialect
  (``?`` placeholders) on SQLite and PostgreSQL, and the advisory-lock key helper;
* :mod:`~ltflow.store.sqlite`, :mod:`~ltflow.store.postgres`: databases that hand out read and
  exclusive write transactions (used by the view store, the audit store and the key stores);
* :mod:`~ltflow.store.events`: the one raw reader of the event store's table;
* :mod:`~ltflow.eventstore.decode`: the one decoder of stored events into what readers need;
* :mod:`~ltflow.store.transcoder`: the event store's JSON transcoder, read faster.

The participant key stores (:mod:`ltflow.privacy.keys`) are built on these databases too.
Nothing is imported here, so a reader of one module loads no other.
"""
