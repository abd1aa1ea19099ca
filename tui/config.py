"""Settings: `~/.config/dlpick/config.toml`, then `DLPICK_*` variables, then flags.

AWS profile and region resolution stay boto3's own; dlpick only adds its own
defaults on top.
"""

from __future__ import annotations

import configparser
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from dlpick.pricing.errors import ConfigError

ENV_PREFIX = "DLPICK_"


@dataclass
class Settings:
    """What the user can set (config key, or `DLPICK_` + its name in capitals).

    `idle_threshold_percent` / `idle_window_minutes`: an instance is idle when every
    accelerator stays below the threshold for the whole window.
    `watch_idle_over_ssh`: while the app runs, SSH into each running instance dlpick
    launched to sample its GPUs with nvidia-smi (CloudWatch CPU stands in where SSH
    fails); false keeps dlpick off the instances, leaving the CloudWatch idle alarm.
    """

    region: str | None = None
    profile: str | None = None
    offline: bool = False
    checkip_url: str = "https://checkip.amazonaws.com"
    idle_threshold_percent: float = 5.0
    idle_window_minutes: float = 15.0
    watch_idle_over_ssh: bool = True

    def merged(self, **overrides: Any) -> Settings:
        """A copy with every non-None override applied (how flags win)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return Settings(**values)


def config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(os.environ.get("DLPICK_CONFIG") or Path(user_config_dir("dlpick")) / "config.toml")


def _coerce(kind: Any, raw: Any, name: str) -> Any:
    text = str(raw)
    if kind in (bool, "bool"):
        if isinstance(raw, bool):
            return raw
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}: expected true or false, got {text!r}")
    if kind in (float, "float"):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {text!r}") from None
    return text or None


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Settings from the config file and the environment (flags are merged by the caller)."""
    environ = dict(os.environ) if environ is None else environ
    path = path or config_path()
    values: dict[str, Any] = {}
    known = {f.name: f.type for f in fields(Settings)}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
        for key, raw in data.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[name] = _coerce(known[name], raw, f"{path}: {key}")
    for name, kind in known.items():
        env = f"{ENV_PREFIX}{name.upper()}"
        if env in environ:
            values[name] = _coerce(kind, environ[env], env)
    return Settings(**values)


def aws_config_region(profile: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The region boto3 would pick, read without importing boto3 (for offline runs)."""
    environ = dict(os.environ) if environ is None else environ
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    profile = profile or environ.get("AWS_PROFILE") or "default"
    path = Path(environ.get("AWS_CONFIG_FILE") or Path.home() / ".aws" / "config")
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error):
        return None
    section = "default" if profile == "default" else f"profile {profile}"
    return parser.get(section, "region", fallback=None) or None
