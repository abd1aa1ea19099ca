"""Fixtures shared by every test: an isolated home, and the real peers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers.moto_peer import MotoPeer
from tests.peers.pricing_api import PricingApi


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test sees the developer's AWS config, caches, keys or dlpick settings."""
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith(("AWS_", "DLPICK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    # Never ask an instance metadata service for credentials from a test.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return home


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoPeer]:
    peer = MotoPeer().start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def pricing_server() -> Iterator[PricingApi]:
    api = PricingApi().start()
    yield api
    api.stop()


@dataclass
class AwsPeers:
    moto: MotoPeer
    pricing: PricingApi


@pytest.fixture
def aws(
    moto_server: MotoPeer, pricing_server: PricingApi, monkeypatch: pytest.MonkeyPatch
) -> AwsPeers:
    """Fresh moto and Pricing peers, reached only through standard AWS configuration."""
    moto_server.reset()
    pricing_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", pricing_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return AwsPeers(moto=moto_server, pricing=pricing_server)
