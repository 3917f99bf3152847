"""The bare workflows the phase-event benchmarks measure ltflow against: an update with a trivial
handler, run unsandboxed (the strictest floor) and in the SDK's default sandbox (what a plain
Temporal worker runs). A module of their own, with nothing but the SDK imported, so the sandbox
can import it."""

from __future__ import annotations

from temporalio import workflow


class _Bare:
    """The handlers both share (the SDK wants ``@workflow.run`` on each class itself)."""

    def __init__(self) -> None:
        self.count = 0
        self.done = False

    async def _run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.count

    @workflow.update
    async def bump(self, n: int) -> int:
        self.count += n
        return self.count

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn(sandboxed=False)
class BareWorkflow(_Bare):
    """The floor: an update with a trivial handler, outside the sandbox."""

    @workflow.run
    async def run(self) -> int:
        return await self._run()


@workflow.defn
class SandboxedBareWorkflow(_Bare):
    """The same in the SDK's default sandbox."""

    @workflow.run
    async def run(self) -> int:
        return await self._run()
