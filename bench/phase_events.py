"""Phase-event latency and throughput, against a bare Temporal update measured in the same run.

    python -m bench.phase_events            # full run (a few minutes)
    python -m bench.phase_events --smoke    # tiny sizes, as the test suite runs it

Both sides run on one file-backed Temporal CLI dev server and one worker (ltflow's plugin on it,
so every side's payloads are encrypted by the same codec). The baseline is an update whose handler
does nothing (``bench/bare.py``), run unsandboxed: the strictest floor, which the targets are
judged against. The same update in the SDK's default sandbox (what a plain Temporal worker runs,
and what ltflow's workflow runs in) is measured beside it, sequentially. ltflow's side is a real
``perspective.shared`` event through ``LtflowClient.send``: validator (rulebook), local activity
(SQLite append), state fold.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from bench import common
from bench.bare import BareWorkflow, SandboxedBareWorkflow
from ltflow.aggregates.vocabulary import parse_convene, parse_sender_event
from ltflow.config import Settings
from ltflow.demo import narrative
from ltflow.workflows.client import LtflowClient
from ltflow.workflows.plugin import LtflowPlugin


@dataclass
class Figures:
    p50: float
    p95: float
    p99: float
    per_second: float


def _percentiles(samples: list[float], elapsed: float) -> Figures:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return Figures(pick(0.50), pick(0.95), pick(0.99), len(samples) / elapsed)


async def _timed(calls: list[Callable[[], Awaitable[Any]]]) -> list[float]:
    out = []
    for call in calls:
        start = time.perf_counter()
        await call()
        out.append(time.perf_counter() - start)
    return out


async def _bare_handle(
    client: Client, queue: str, sandboxed: bool = False
) -> WorkflowHandle[Any, Any]:
    run = SandboxedBareWorkflow.run if sandboxed else BareWorkflow.run
    return await client.start_workflow(run, id=f"bare-{uuid.uuid4()}", task_queue=queue)


async def _ltflow_team(ltflow: LtflowClient) -> uuid.UUID:
    body = parse_convene(narrative.convene(case_ref=f"BENCH-{uuid.uuid4().hex[:12]}"))
    team_id = (await ltflow.open_team(body, actor="bench")).team_id
    for pid in ("p-a", "p-b", "p-c"):
        invite = {
            "type": "participant.invited",
            "event_id": f"inv-{pid}",
            "participant_id": pid,
            "role": "nurse",
        }
        await ltflow.send(team_id, parse_sender_event(invite), actor="bench")
    scope = parse_sender_event({"type": "scope.confirmed", "event_id": "scope"})
    await ltflow.send(team_id, scope, actor="bench")
    return team_id


def _perspective(team: uuid.UUID, ltflow: LtflowClient, i: int) -> Callable[[], Awaitable[Any]]:
    event = parse_sender_event(
        {
            "type": "perspective.shared",
            "event_id": f"p-{i}",
            "participant_id": "p-a",
            "perspective": "The evening round started late again.",
            "consent_to_share": True,
        }
    )
    return lambda: ltflow.send(team, event, actor="bench")


async def latency(client: Client, ltflow: LtflowClient, queue: str, n: int) -> dict[str, Figures]:
    bare = await _bare_handle(client, queue)
    sandboxed = await _bare_handle(client, queue, sandboxed=True)
    team = await _ltflow_team(ltflow)
    warm = max(5, n // 10)
    await _timed([lambda: bare.execute_update(BareWorkflow.bump, 1) for _ in range(warm)])
    await _timed(
        [lambda: sandboxed.execute_update(SandboxedBareWorkflow.bump, 1) for _ in range(warm)]
    )
    await _timed([_perspective(team, ltflow, -i - 1) for i in range(warm)])
    results: dict[str, list[float]] = {"bare": [], "bare, sandboxed": [], "ltflow": []}
    # Interleave in rounds so drift on a noisy machine hits every side alike.
    for r in range(4):
        results["bare"] += await _timed(
            [lambda: bare.execute_update(BareWorkflow.bump, 1) for _ in range(n // 4)]
        )
        results["bare, sandboxed"] += await _timed(
            [lambda: sandboxed.execute_update(SandboxedBareWorkflow.bump, 1) for _ in range(n // 4)]
        )
        results["ltflow"] += await _timed(
            [_perspective(team, ltflow, r * n + i) for i in range(n // 4)]
        )
    for handle in (bare, sandboxed):
        await handle.signal(BareWorkflow.finish)
    return {k: _percentiles(v, sum(v)) for k, v in results.items()}


async def throughput(
    client: Client, ltflow: LtflowClient, queue: str, cases: int, per_case: int
) -> dict[str, float]:
    bares = [await _bare_handle(client, queue) for _ in range(cases)]
    teams = [await _ltflow_team(ltflow) for _ in range(cases)]

    async def bare_case(h: WorkflowHandle[Any, Any]) -> None:
        for _ in range(per_case):
            await h.execute_update(BareWorkflow.bump, 1)

    async def ltflow_case(k: int, team: uuid.UUID) -> None:
        for i in range(per_case):
            await _perspective(team, ltflow, 10_000 + k * per_case + i)()

    start = time.perf_counter()
    await asyncio.gather(*(bare_case(h) for h in bares))
    bare_rate = cases * per_case / (time.perf_counter() - start)
    start = time.perf_counter()
    await asyncio.gather(*(ltflow_case(k, t) for k, t in enumerate(teams)))
    ltflow_rate = cases * per_case / (time.perf_counter() - start)
    for h in bares:
        await h.signal(BareWorkflow.finish)
    return {"bare": bare_rate, "ltflow": ltflow_rate}


async def run(smoke: bool) -> dict[str, Any]:
    n, cases, per_case = (20, 4, 5) if smoke else (400, 20, 25)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        env = await common.file_backed_dev_server(data / "temporal.sqlite3")
        settings = Settings(data_dir=data, task_queue="bench")
        plugin = LtflowPlugin(settings)
        client = Client(env.client.service_client, plugins=[plugin])
        try:
            bares = [BareWorkflow, SandboxedBareWorkflow]
            async with Worker(client, task_queue="bench", workflows=bares):
                ltflow = LtflowClient(client, "bench")
                lat = await latency(client, ltflow, "bench", n)
                thr = await throughput(client, ltflow, "bench", cases, per_case)
        finally:
            await env.shutdown()
    return {"latency": lat, "throughput": thr, "sizes": {"n": n, "cases": cases}}


def report(figures: dict[str, Any]) -> list[str]:
    lat, thr = figures["latency"], figures["throughput"]
    bare, boxed, lt = lat["bare"], lat["bare, sandboxed"], lat["ltflow"]
    lines = [
        f"phase-event latency, sequential, n={figures['sizes']['n']} (ms)",
        f"  bare update   p50 {bare.p50:6.1f}  p95 {bare.p95:6.1f}  p99 {bare.p99:6.1f}",
        f"  ltflow event  p50 {lt.p50:6.1f}  p95 {lt.p95:6.1f}  p99 {lt.p99:6.1f}",
        f"  ratio p50 {lt.p50 / bare.p50:.2f} (target <= 1.5)  p95 {lt.p95 / bare.p95:.2f}",
        f"  beside: bare update in the SDK's default sandbox  p50 {boxed.p50:6.1f}  "
        f"p95 {boxed.p95:6.1f}; ltflow's ratio to it p50 {lt.p50 / boxed.p50:.2f}  "
        f"p95 {lt.p95 / boxed.p95:.2f}",
        f"throughput, {figures['sizes']['cases']} cases in flight (events/s)",
        f"  bare {thr['bare']:7.1f}  ltflow {thr['ltflow']:7.1f}  "
        f"ratio {thr['ltflow'] / thr['bare']:.2f} (target >= 0.7)",
    ]
    return lines


def main() -> None:
    common.main(__doc__, run, report)


if __name__ == "__main__":
    main()
