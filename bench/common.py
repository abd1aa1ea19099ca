"""What every benchmark shares: an environment that sees none of the user's setup."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.peers.sshd import Sshd


def isolated_env(home: Path) -> dict[str, str]:
    """This process's environment with HOME and XDG dirs in `home` and no AWS or dlpick settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DLPICK_"))}
    # Bytecode is written and reused, as on a user's machine, but kept out of the tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPYCACHEPREFIX=str(home / "pycache"),
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        AWS_EC2_METADATA_DISABLED="true",
        # Benchmarks never SSH to an instance's (possibly real) address while watching idleness.
        DLPICK_WATCH_IDLE_OVER_SSH="false",
    )
    return env


def reach_sshd(sshd: Sshd, home: Path, alias: str) -> Path:
    """~/.ssh in `home` that reaches the tests' sshd peer as `alias`, its key known."""
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    known = ssh_dir / "known_hosts"
    known.write_text(sshd.known_hosts_line())
    config = ssh_dir / "config"
    config.write_text(sshd.client_config(alias, known_hosts=known))
    return config


def moto_env(endpoint: str, **more: str) -> dict[str, str]:
    """Standard AWS configuration that reaches a local moto server with made-up keys."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        **more,
    }
