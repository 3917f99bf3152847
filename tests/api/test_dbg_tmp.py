from __future__ import annotations
from tests.api.test_full_case import _run_case
from tests.api.conftest import Api
from ltflow.projections.team_detail import get_team_detail, fold_team_detail
from uuid import UUID

async def test_dbg(ts_api: Api, time_env) -> None:
    team_id, answers = await _run_case(ts_api, time_env)
    await ts_api.settle()
    stored = get_team_detail(ts_api.projections.runner.store, UUID(team_id))
    events = list(ts_api.events.events.get(UUID(team_id)))
    fresh = fold_team_detail(events)
    a, b = stored.model_dump(mode="json"), fresh.model_dump(mode="json")
    for k in ("participants", "perspectives", "reflection_notes"):
        print(k, "\nSTORED", a[k][:2], "\nFRESH ", b[k][:2])
