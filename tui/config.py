"""Settings: `~/.config/dlpick/config.toml`, then `DLPICK_*` variables, then flags.

Every key is checked where it enters (file, environment, flag) by one check per
key, and a bad one is refused with a ConfigError naming it. AWS profile and region
resolution stay boto3's own; dlpick only adds its own defaults on top.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dlpick.core.errors import ConfigError, InputError
from dlpick.core.inputs import check_region, parse_number
from dlpick.core.locations import CONFIG_ENV, config_file

ENV_PREFIX = "DLPICK_"
# Environment values are always text, so they spell booleans in words.
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _boolean(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{where} must be true or false, not {value!r}")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, not {value!r}")
    if not value.strip():
        raise ConfigError(f"{where} must not be empty")
    return value


def _optional_text(value: object, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _region(value: object, where: str) -> str | None:
    if value is None:
        return None
    try:
        return check_region(_text(value, where))
    except InputError as exc:
        raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None


def _http_url(value: object, where: str) -> str:
    parts = urlsplit(_text(value, where))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where} must be an http(s) URL, not {value!r}")
    return str(value)


def _number(*, above: float, maximum: float) -> Callable[[object, str], float]:
    def check(value: object, where: str) -> float:
        # A TOML string or boolean is not a number, though float() would take some.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, not {value!r}")
        try:
            return parse_number(value, where, minimum=above, above=True, maximum=maximum)
        except InputError as exc:
            raise ConfigError(exc.message, hint=exc.hint) from None

    return check


# One check per key: it takes the value as TOML (or a flag) gives it and returns it typed.
CHECKS: dict[str, Callable[[object, str], Any]] = {
    "region": _region,
    "profile": _optional_text,
    "offline": _boolean,
    "checkip_url": _http_url,
    "idle_threshold_percent": _number(above=0, maximum=100),
    "idle_window_minutes": _number(above=0, maximum=24 * 60),
    "watch_idle_over_ssh": _boolean,
}


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

    def __post_init__(self) -> None:
        # Settings built in code or merged from flags pass the same checks as the file.
        for f in fields(self):
            setattr(self, f.name, CHECKS[f.name](getattr(self, f.name), f.name))

    def merged(self, **overrides: Any) -> Settings:
        """A copy with every non-None override applied (how flags win)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return Settings(**values)


def _from_env(name: str, text: str, where: str) -> Any:
    """An environment value (always text) as the type its key takes, then checked."""
    default = next(f.default for f in fields(Settings) if f.name == name)
    value: object = text
    if isinstance(default, bool):
        if text.strip().lower() not in _TRUE + _FALSE:
            raise ConfigError(f"{where} must be one of {'/'.join(_TRUE + _FALSE)}, not {text!r}")
        value = text.strip().lower() in _TRUE
    elif isinstance(default, float):
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{where} must be a number, not {text!r}") from None
    return CHECKS[name](value, where)


def _read_file(path: Path, named: bool) -> dict[str, Any]:
    """The config file's table; {} when the default file does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if named:
            raise ConfigError(
                f"{CONFIG_ENV} names {path}, which does not exist",
                hint=f"create it, or unset {CONFIG_ENV}",
            ) from None
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"the config file {path} is not valid UTF-8 (byte {exc.start})",
            hint="save it as UTF-8",
        ) from None
    import tomllib  # only when there is a file: most runs have none

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the config file and the environment (flags are merged by the caller)."""
    environ = os.environ if environ is None else environ
    named = path is None and bool(environ.get(CONFIG_ENV))
    path = path or config_file(environ)
    values: dict[str, Any] = {}
    for key, raw in _read_file(path, named).items():
        name = key.replace("-", "_")
        if name not in CHECKS:
            raise ConfigError(
                f"{path}: unknown setting {key!r}", hint="known: " + ", ".join(CHECKS)
            )
        values[name] = CHECKS[name](raw, f"{path}: {key}")
    for name in CHECKS:
        env = f"{ENV_PREFIX}{name.upper()}"
        # An empty variable means unset, as a shell's `DLPICK_REGION=` does.
        if environ.get(env):
            values[name] = _from_env(name, environ[env], env)
    return Settings(**values)


def aws_config_region(profile: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The region boto3 would pick, read without importing boto3 (for offline runs)."""
    environ = dict(os.environ) if environ is None else environ
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    profile = profile or environ.get("AWS_PROFILE") or "default"
    path = Path(environ.get("AWS_CONFIG_FILE") or Path.home() / ".aws" / "config")
    if not os.path.isfile(path):  # never raises
        return None

    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error):
        return None
    section = "default" if profile == "default" else f"profile {profile}"
    return parser.get(section, "region", fallback=None) or None
