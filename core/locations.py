"""Where dlpick keeps its files: the one module that answers it.

Config in the user's config dir (or `DLPICK_CONFIG`), the price cache in the cache
dir, launches, measurements, pinned host keys and the bug log in the data dir (platformdirs).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

APP = "dlpick"
CONFIG_ENV = "DLPICK_CONFIG"


def config_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP, appauthor=False))


def config_file(environ: Mapping[str, str] | None = None) -> Path:
    """The config file; `DLPICK_CONFIG` names another one (which must then exist)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(CONFIG_ENV) or config_dir() / "config.toml")


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP, appauthor=False))


def price_cache_file() -> Path:
    return cache_dir() / "prices.sqlite"


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP, appauthor=False))


def launches_file() -> Path:
    """Launches dlpick started, by request, so a retried launch finds its instance."""
    return data_dir() / "launches.json"


def measurements_file() -> Path:
    """The TFLOPs `dlpick bench` measured, one row per benchmark (CSV)."""
    return data_dir() / "measurements.csv"


def known_hosts_file() -> Path:
    """dlpick's own known-hosts file, where EC2 instance keys are pinned by instance id."""
    return data_dir() / "known_hosts"


def state_dir() -> Path:
    from platformdirs import user_state_dir

    return Path(user_state_dir(APP, appauthor=False))


def bug_log_file() -> Path:
    """Where the traceback of a bug is written (the user is told this path)."""
    return state_dir() / "bugs.log"
