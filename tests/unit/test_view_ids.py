"""The view id key (``LTFLOW_VIEW_ID_KEY``): configured, or made by ``ltflow dev``/``demo`` in
their data dir; anywhere else the API refuses to start with a sentence (issue 21)."""

from __future__ import annotations

import base64
import re
import stat
from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import pytest

from ltflow.api import create_app
from ltflow.cli import USAGE, main
from ltflow.config import Settings
from ltflow.eventstore.application import team_id_for
from ltflow.projections.cross_team import MissingViewIdKeyError, ViewIds, view_ids_for
from ltflow.projections.store import ViewStore

KEY = base64.b64encode(b"\x07" * 32).decode()


def test_a_view_id_is_an_hmac_of_the_team_id_in_no_shape_of_it() -> None:
    team_id = team_id_for("VIM-2026-002")
    view_id = ViewIds(b"\x07" * 32).of(team_id)
    assert re.fullmatch(r"[a-z2-7]{24}", view_id)
    assert view_id == ViewIds(b"\x07" * 32).of(str(team_id))  # the same team, the same id
    assert view_id != ViewIds(b"\x08" * 32).of(team_id)
    assert team_id.hex[:8] not in view_id
    assert repr(ViewIds(b"\x07" * 32)) == "ViewIds(<key>)"  # never the key


def test_without_a_key_the_api_is_not_made_and_says_why(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(MissingViewIdKeyError, match="LTFLOW_VIEW_ID_KEY is not set"):
        view_ids_for(settings)
    with ViewStore.from_settings(settings) as views, pytest.raises(MissingViewIdKeyError):
        create_app(settings, client=cast("Any", None), views=views)
    assert not settings.view_id_key_file.exists()  # it never makes a key of its own


def test_ltflow_api_without_a_key_refuses_to_start_with_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LTFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LTFLOW_VIEW_ID_KEY", raising=False)
    assert main(["api", "--port", "0"]) == USAGE
    said = capsys.readouterr().err
    assert said.startswith("ltflow: LTFLOW_VIEW_ID_KEY is not set"), said
    assert "base64 of 32 random bytes" in said
    assert not (tmp_path / "view.id.key").exists()


def test_dev_makes_its_key_once_and_every_later_command_uses_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    team = uuid4()
    made = view_ids_for(settings, create=True).of(team)
    mode = stat.S_IMODE(settings.view_id_key_file.stat().st_mode)
    assert mode == 0o600
    assert view_ids_for(settings).of(team) == made  # an 'ltflow api' on the dev data dir
    assert view_ids_for(settings, create=True).of(team) == made
    configured = Settings.from_env({"LTFLOW_DATA_DIR": str(tmp_path), "LTFLOW_VIEW_ID_KEY": KEY})
    assert view_ids_for(configured).of(team) == ViewIds(b"\x07" * 32).of(team) != made


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_bad_key_is_named(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="LTFLOW_VIEW_ID_KEY must be base64 of 32 random bytes"):
        view_ids_for(Settings(data_dir=tmp_path, view_id_key=bad))
