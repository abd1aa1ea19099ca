"""Fixtures shared by every test: an isolated home, and the real peers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers.ec2_front import Ec2Front
from tests.peers.moto_peer import MotoPeer
from tests.peers.pricing_api import PricingApi
from tests.peers.sshd import SSH_ALIAS, Sshd

pytest_plugins = ["tests.launch_fixtures", "tests.batch_fixtures"]


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
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    # Never ask an instance metadata service for credentials from a test.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # moto's instances have made-up public addresses: the app must never SSH to them.
    # A test that watches idleness over SSH turns this on and maps the address to sshd.
    monkeypatch.setenv("DLPICK_WATCH_IDLE_OVER_SSH", "false")
    # The spot advisor's feed is on the internet: tests read the bundle, or a local peer.
    monkeypatch.setenv("DLPICK_SPOT_ADVISOR_URL", "")
    return home


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoPeer]:
    peer = MotoPeer().start()
    yield peer
    peer.stop()


@pytest.fixture
def pricing_server() -> Iterator[PricingApi]:
    """A Pricing peer for one test: a thread worker an earlier test's app left running
    meets a closed port, never this test's record of requests."""
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
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", pricing_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return AwsPeers(moto=moto_server, pricing=pricing_server)


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[Sshd]:
    """One real OpenSSH sshd on 127.0.0.1 for the whole session."""
    server = Sshd().start()
    yield server
    server.stop()


@pytest.fixture
def sshd(sshd_server: Sshd, isolated_home: Path) -> Sshd:
    """The sshd, reachable as host `dlpick-test` through ~/.ssh/config, its key known.

    No runs from other tests; ~/.ssh/known_hosts holds the server's real key.
    """
    sshd_server.reset()
    ssh_dir = isolated_home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    known = ssh_dir / "known_hosts"
    known.write_text(sshd_server.known_hosts_line())
    (ssh_dir / "config").write_text(sshd_server.client_config(SSH_ALIAS, known_hosts=known))
    return sshd_server


@pytest.fixture
def ec2_front(aws: AwsPeers, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ec2Front]:
    """EC2 through a front that answers placement scores and Capacity Blocks itself
    (moto has neither) and forwards every other action to moto."""
    front = Ec2Front(aws.moto.url).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", front.url)
    yield front
    front.stop()
