"""Mutual TLS to Temporal from the environment (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from ltflow.config import Settings
from ltflow.workflows.runtime import tls_config


def test_a_client_certificate_makes_the_connection_mutual_tls(tmp_path: Path) -> None:
    for name in ("client.pem", "client.key", "ca.pem"):
        (tmp_path / name).write_bytes(f"-- {name} --".encode())
    settings = Settings.from_env(
        {
            "LTFLOW_TEMPORAL_TLS_CERT": str(tmp_path / "client.pem"),
            "LTFLOW_TEMPORAL_TLS_KEY": str(tmp_path / "client.key"),
            "LTFLOW_TEMPORAL_TLS_CA": str(tmp_path / "ca.pem"),
        }
    )
    tls = tls_config(settings)
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == b"-- client.pem --"
    assert tls.client_private_key == b"-- client.key --"
    assert tls.server_root_ca_cert == b"-- ca.pem --"


def test_without_certificates_tls_is_as_before() -> None:
    assert tls_config(Settings()) is False
    assert tls_config(Settings(temporal_tls=True)) is True
    assert tls_config(Settings(temporal_api_key="k")) is True


def test_a_certificate_without_its_key_is_refused_at_configuration_load() -> None:
    with pytest.raises(ValueError, match="go together"):
        Settings.from_env({"LTFLOW_TEMPORAL_TLS_CERT": "/etc/ltflow/client.pem"})


def test_an_unreadable_certificate_is_named(tmp_path: Path) -> None:
    settings = Settings(temporal_tls_cert=tmp_path / "nope.pem", temporal_tls_key=tmp_path / "k")
    with pytest.raises(ValueError, match="cannot be read"):
        tls_config(settings)
