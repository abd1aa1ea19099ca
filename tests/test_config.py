"""Settings: every key checked where it enters, a bad one refused naming it, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlpick.core.errors import ConfigError
from dlpick.tui.cli.main import main
from dlpick.tui.config import Settings, load_settings


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path | None = None, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ or {})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_good_file_and_the_environment_give_typed_settings(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        'region = "eu-west-1"\nprofile = "ml"\noffline = true\n'
        'checkip-url = "http://ip.example.test/"\nidle_threshold_percent = 10\n'
        "idle_window_minutes = 30.5\nwatch_idle_over_ssh = false\n",
    )
    settings = load_settings(path, {})
    assert settings == Settings(
        region="eu-west-1",
        profile="ml",
        offline=True,
        checkip_url="http://ip.example.test/",
        idle_threshold_percent=10.0,
        idle_window_minutes=30.5,
        watch_idle_over_ssh=False,
    )
    env = {"DLPICK_OFFLINE": "no", "DLPICK_IDLE_WINDOW_MINUTES": "60", "DLPICK_REGION": ""}
    overridden = load_settings(path, env)
    assert (overridden.offline, overridden.idle_window_minutes) == (False, 60.0)
    assert overridden.region == "eu-west-1"  # an empty variable is unset


@pytest.mark.parametrize(
    ("line", "key", "why"),
    [
        ("checkip_url = 42", "checkip_url", "must be a string"),
        ('checkip_url = "ftp://example.test/ip"', "checkip_url", "http(s) URL"),
        ('checkip_url = "checkip.amazonaws.com"', "checkip_url", "http(s) URL"),
        ('checkip_url = "https://"', "checkip_url", "http(s) URL"),
        ('offline = "yes"', "offline", "true or false"),
        ("offline = 1", "offline", "true or false"),
        ('watch_idle_over_ssh = "false"', "watch_idle_over_ssh", "true or false"),
        ("idle_threshold_percent = 0", "idle_threshold_percent", "above 0"),
        ("idle_threshold_percent = -5", "idle_threshold_percent", "above 0"),
        ("idle_threshold_percent = 100.5", "idle_threshold_percent", "at most 100"),
        ("idle_threshold_percent = nan", "idle_threshold_percent", "finite"),
        ('idle_threshold_percent = "5"', "idle_threshold_percent", "must be a number"),
        ("idle_threshold_percent = true", "idle_threshold_percent", "must be a number"),
        ("idle_window_minutes = 0", "idle_window_minutes", "above 0"),
        ("idle_window_minutes = 1441", "idle_window_minutes", "at most 1440"),
        ("idle_window_minutes = inf", "idle_window_minutes", "finite"),
        ('region = "mars-north-1"', "region", "unknown region"),
        ("region = 7", "region", "must be a string"),
        ('profile = ""', "profile", "must not be empty"),
        ("profile = [1]", "profile", "must be a string"),
        ('colour = "blue"', "colour", "unknown setting"),
    ],
)
def test_each_bad_value_in_the_file_is_refused_naming_its_key(
    tmp_path: Path, line: str, key: str, why: str
) -> None:
    path = write_config(tmp_path, line + "\n")
    message = refused(path)
    assert str(path) in message and key in message and why in message


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("DLPICK_OFFLINE", "maybe", "must be one of"),
        ("DLPICK_IDLE_THRESHOLD_PERCENT", "five", "must be a number"),
        ("DLPICK_IDLE_THRESHOLD_PERCENT", "nan", "finite"),
        ("DLPICK_IDLE_WINDOW_MINUTES", "-1", "above 0"),
        ("DLPICK_CHECKIP_URL", "not a url", "http(s) URL"),
        ("DLPICK_REGION", "moon-1", "unknown region"),
    ],
)
def test_each_bad_environment_value_is_refused_naming_its_variable(
    name: str, value: str, why: str
) -> None:
    message = refused(environ={name: value})
    assert name in message and why in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("yes", True), ("no", False), ("1", True), ("0", False), ("TRUE", True), ("false", False)],
)
def test_environment_booleans_are_spelled_in_words(value: str, expected: bool) -> None:
    assert load_settings(environ={"DLPICK_OFFLINE": value}).offline is expected


def test_flags_merged_in_pass_the_same_checks() -> None:
    with pytest.raises(ConfigError, match="profile must not be empty"):
        Settings().merged(profile=" ")
    assert Settings().merged(offline=True, profile=None).offline is True


def test_a_missing_default_config_file_is_fine() -> None:
    assert load_settings() == Settings(watch_idle_over_ssh=False)  # conftest's variable


def test_dlpick_config_naming_a_missing_file_is_refused() -> None:
    message = refused(environ={"DLPICK_CONFIG": "/nonexistent"})
    assert message.startswith("DLPICK_CONFIG names /nonexistent, which does not exist")


def test_dlpick_config_names_the_file_to_read(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'region = "ap-south-1"\n')
    assert load_settings(environ={"DLPICK_CONFIG": str(path)}).region == "ap-south-1"


def test_a_file_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'region = "eu-west-1"\nprofile = "caf\xe9"\n')
    message = refused(path)
    assert str(path) in message and "not valid UTF-8" in message


def test_a_file_that_cannot_be_read_is_refused_naming_it(tmp_path: Path) -> None:
    # A directory where the file should be: unreadable even for root, unlike chmod 000.
    path = tmp_path / "config.toml"
    path.mkdir()
    message = refused(path)
    assert str(path) in message and "cannot read" in message


def test_a_file_that_is_not_toml_is_refused_naming_it(tmp_path: Path) -> None:
    message = refused(write_config(tmp_path, "region = \n"))
    assert "not valid TOML" in message


def test_prices_with_a_bad_config_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, "idle_threshold_percent = 250\n")
    monkeypatch.setenv("DLPICK_CONFIG", str(path))
    code = main(["prices", "--offline", "--region", "us-east-1"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {path}: idle_threshold_percent must be at most 100")
