"""Access: who may send what to a team, and what of a team they see (:mod:`.policy`, pure),
and how a read model is shown to a viewer (:mod:`.views`)."""
