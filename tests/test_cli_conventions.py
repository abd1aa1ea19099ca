"""Command-line habits people bring from `aws`: global options anywhere on the line,
--version, --output, AWS's own words for a missing profile, usage errors."""

from __future__ import annotations

import csv
import io
import json
from importlib.metadata import version
from types import SimpleNamespace

import boto3
import pytest

from dlpick.core.errors import EXIT_ERROR, EXIT_USAGE
from dlpick.remote.fleet.scan import INSTANCE_FIELDS
from dlpick.remote.ssh.runs import RUN_FIELDS
from dlpick.tui.cli.launch import QUOTA_FIELDS
from tests.conftest import AwsPeers
from tests.launch_fixtures import G_OD, REGION, run
from tests.peers.sshd import SSH_ALIAS, Sshd, wait_for

INSTANCE = "i-0123456789abcdef0"
NO_PROFILE = "The config profile (nope) could not be found"
# Every subcommand, with what it needs besides the global options.
COMMANDS = {
    "ls": ["ls"],
    "quotas": ["quotas"],
    "quotas request": ["quotas", "request", G_OD, "64", "--yes"],
    "launch": ["launch", "g6.xlarge", "--yes"],
    "stop": ["stop", INSTANCE, "--yes"],
    "terminate": ["terminate", INSTANCE, "--yes"],
    "runs": ["runs", INSTANCE],
    "logs": ["logs", INSTANCE],
    "ssh": ["ssh", INSTANCE],
    "spot-history": ["spot-history", "g6.xlarge"],
}


def regions_of(out: str) -> set[str]:
    return {r["region"] for r in json.loads(out)}


def csv_rows(out: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(out))
    return list(reader.fieldnames or []), list(reader)


# -- 1. global options anywhere, the nearest one winning -----------------------------


@pytest.mark.parametrize(
    ("argv", "region"),
    [
        (["--region", "us-west-2", "prices"], "us-west-2"),
        (["prices", "--region", "us-west-2"], "us-west-2"),
        (["--region", "us-west-2", "prices", "--region", "eu-west-1"], "eu-west-1"),
        (["prices", "--region", "us-west-2", "--region", "eu-west-1"], "eu-west-1"),
        (["--region", "eu-west-1", "--region", "us-west-2", "prices"], "us-west-2"),
    ],
)
def test_the_region_option_before_or_after_the_command_the_nearest_winning(
    argv: list[str], region: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv, "--offline", "--output", "json")
    assert code == 0, err
    assert regions_of(out) == {region}


@pytest.mark.parametrize("where", ["before", "after"])
def test_offline_and_output_work_before_the_command_too(
    where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--offline", "--output", "csv", "--region", "ap-south-1"]
    argv = [*options, "prices"] if where == "before" else ["prices", *options]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    header, rows = csv_rows(out)
    assert header[:2] == ["instance_type", "region"] and {r["region"] for r in rows} == {
        "ap-south-1"
    }
    assert err.startswith("offline: on-demand prices: snapshot")


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_takes_the_profile_before_or_after_it(
    command: str, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = COMMANDS[command]
    argv = ["--profile", "nope", *argv] if where == "before" else [*argv, "--profile", "nope"]
    code, out, err = run(capsys, *argv)
    assert code == EXIT_ERROR, err
    assert err.splitlines()[-1] == f"error: {NO_PROFILE}"
    assert out == ""


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_takes_the_region_before_it_and_the_nearer_one_wins(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Credentials that would do, so the region is what is refused (before any AWS call).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    argv = COMMANDS[command]
    code, _, err = run(capsys, "--region", "xx-fake-9", *argv)
    assert code == EXIT_USAGE and ": error: --region: unknown region 'xx-fake-9' — " in err
    # Given after the command too, that one is used: the profile is reached next.
    code, _, err = run(
        capsys, "--region", "xx-fake-9", *argv, "--region", "eu-west-1", "--profile", "nope"
    )
    assert code == EXIT_ERROR and err.splitlines()[-1] == f"error: {NO_PROFILE}"


def test_the_profile_after_prices_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "prices", "--profile", "nope", "--output", "json")
    assert code == 0
    assert err == f"warning: showing cached or bundled snapshot prices: {NO_PROFILE}\n"
    assert {r["price_source"] for r in json.loads(out)} == {"snapshot"}


def test_quotas_request_takes_the_region_nearest_to_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["quotas", "--region", "us-east-1", "request", G_OD, "64", "--region", "xx-fake-9"]
    code, _, err = run(capsys, *argv)
    assert code == EXIT_USAGE
    assert err.startswith("dlpick quotas request: error: --region: unknown region 'xx-fake-9' — ")


@pytest.mark.parametrize(
    "argv",
    [
        ["--offline", "ls"],
        ["ls", "--offline"],
        ["quotas", "--offline"],
        ["launch", "g6.xlarge", "--offline"],
        ["stop", INSTANCE, "--offline"],
        ["--offline", "terminate", INSTANCE],
        ["runs", INSTANCE, "--offline"],
        ["run", INSTANCE, "--offline", "--", "true"],
    ],
)
def test_offline_is_refused_by_a_command_that_needs_aws(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE and out == ""
    assert err.count("\n") == 1 and ": error: --offline: dlpick " in err and "needs AWS" in err


def test_offline_is_accepted_where_no_aws_is_needed(
    sshd: Sshd, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "--offline", "run", SSH_ALIAS, "--offline", "--name", "quiet", "--", "true"
    )
    assert code == 0, err
    code, out, err = run(capsys, "runs", SSH_ALIAS, "--offline", "--region", "eu-west-1")
    assert code == 0 and "quiet" in out, err


# -- 2. --version ---------------------------------------------------------------------


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--version")
    assert (code, out, err) == (0, f"dlpick {version('dlpick')}\n", "")


# -- 3. --output, an alias of --format; table, csv and json for every listing ---------


def test_output_is_format(capsys: pytest.CaptureFixture[str]) -> None:
    for fmt in ("csv", "json"):
        _, by_output, _ = run(capsys, "prices", "--offline", "--output", fmt)
        _, by_format, _ = run(capsys, "prices", "--offline", "--format", fmt)
        assert by_output == by_format and by_output


def test_ls_lists_as_json_with_numbers_and_as_csv_with_the_same_fields(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [("dlpick:managed", "true"), ("dlpick:idle-stop-minutes", "60"), ("Name", "job")]
    for idle in ("60", "off"):
        ec2.run_instances(
            ImageId=image,
            InstanceType="g6.xlarge",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": k, "Value": idle if k == "dlpick:idle-stop-minutes" else v}
                        for k, v in tags
                    ],
                }
            ],
        )
    code, out, err = run(capsys, "ls", "--output", "json")
    assert code == 0, err
    records = json.loads(out)["instances"]
    assert [list(r) for r in records] == [list(INSTANCE_FIELDS)] * 2
    assert sorted(r["idle_stop_minutes"] or 0 for r in records) == [0, 60]
    assert {type(r["idle_stop_minutes"]) for r in records} == {int, type(None)}
    code, out, err = run(capsys, "--output", "csv", "ls")
    assert code == 0, err
    header, rows = csv_rows(out)
    assert header == list(INSTANCE_FIELDS)
    by_id = {r["instance_id"]: r for r in records}
    assert {r["instance_id"] for r in rows} == set(by_id)
    for row in rows:
        record = by_id[row["instance_id"]]
        for field in ("instance_type", "region", "state", "market", "idle_stop_minutes"):
            value = record[field]
            assert row[field] == ("" if value is None else str(value))


def test_quotas_list_as_json_and_csv(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "quotas", "--output", "json")
    assert code == 0, err
    records = json.loads(out)
    [g] = [r for r in records if r["code"] == G_OD]
    assert list(g) == list(QUOTA_FIELDS)
    assert (g["region"], g["limit_vcpus"], g["in_use_vcpus"]) == (REGION, 64, 0)
    assert g["pending_request_vcpus"] is None and g["market"] == "on-demand"
    code, out, err = run(capsys, "quotas", "--format", "csv")
    assert code == 0, err
    header, rows = csv_rows(out)
    assert header == list(QUOTA_FIELDS)
    assert {r["code"]: r["limit_vcpus"] for r in rows}[G_OD] == "64"
    assert len(rows) == len(records)


def test_runs_list_as_json_and_csv(sshd: Sshd, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "runs", SSH_ALIAS, "--output", "json")
    assert (code, json.loads(out)) == (0, []), err
    code, out, _ = run(capsys, "run", SSH_ALIAS, "--name", "seven", "--", "exit 7")
    run_id = out.strip()
    wait_for(lambda: (sshd.remote_home / "dlpick-runs" / run_id / "status").exists())
    code, out, err = run(capsys, "runs", SSH_ALIAS, "--output", "json")
    assert code == 0, err
    [record] = json.loads(out)
    assert list(record) == list(RUN_FIELDS)
    assert (record["run_id"], record["name"], record["state"]) == (run_id, "seven", "exited 7")
    assert record["exit_status"] == 7 and record["running"] is False
    assert record["started"].endswith("Z") and record["log_bytes"] == 0
    code, out, err = run(capsys, "--output", "csv", "runs", SSH_ALIAS)
    header, rows = csv_rows(out)
    assert header == list(RUN_FIELDS)
    assert [(r["run_id"], r["exit_status"], r["command"]) for r in rows] == [
        (run_id, "7", record["command"])
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["--output", "json", "launch", "g6.xlarge"],
        ["--format", "csv", "stop", INSTANCE],
        ["quotas", "--output", "json", "request", G_OD, "64"],
        ["--output", "json"],
    ],
)
def test_output_where_nothing_is_listed_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE and out == ""
    assert err.count("\n") == 1 and "this command lists nothing" in err


# -- 4. a missing profile in AWS's own words -------------------------------------------


def test_a_missing_profile_is_named_as_aws_names_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, "--profile", "nope", "ls")
    assert (code, err) == (EXIT_ERROR, f"error: {NO_PROFILE}\n")
    monkeypatch.setenv("AWS_PROFILE", "nope")
    code, _, err = run(capsys, "ls")
    assert (code, err) == (EXIT_ERROR, f"error: {NO_PROFILE}\n")


def test_the_app_account_gives_the_same_reason() -> None:
    from dlpick.tui.account import AwsAccess, connect_with

    account = AwsAccess(connect_with("nope"))
    assert account.get() is None and account.available is False
    assert account.why_not == NO_PROFILE
    without = AwsAccess(connect_with(None))
    assert without.get() is None
    assert without.why_not.startswith("no AWS credentials found — run `aws configure`")


# -- 5. a missing required argument is a usage error ------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "box"],
        ["run", "box", "--"],
        ["run", "box", "--name", "x"],
        ["run"],
        ["runs"],
        ["logs"],
        ["ssh"],
        ["launch"],
        ["stop"],
        ["terminate"],
        ["quotas", "request"],
        ["quotas", "request", G_OD],
        ["run", "box", "--bogus", "1", "--", "true"],
    ],
)
def test_a_missing_argument_is_a_one_line_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE and out == ""
    assert err.count("\n") == 1 and err.startswith("dlpick ") and "--help)" in err


# -- 6. --offline says what prices are shown ----------------------------------------------


def test_offline_says_the_prices_are_cached_ones_after_a_live_run(
    aws: AwsPeers, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.peers.pricing_api import ec2_product

    aws.pricing.products.append(ec2_product("g6.xlarge", REGION, 0.8048))
    code, _, err = run(capsys, "prices", "--output", "json")
    assert (code, err) == (0, "")  # live: nothing to say
    code, out, err = run(capsys, "prices", "--offline", "--output", "json")
    assert code == 0
    records = json.loads(out)
    g6 = next(r for r in records if r["instance_type"] == "g6.xlarge")
    assert (g6["price_source"], g6["on_demand_usd_hour"]) == ("cache", 0.8048)
    sources = "/".join(sorted({r["price_source"] for r in records}))
    assert err.startswith(f"offline: on-demand prices: {sources}, ") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("line", "app"),
    [
        ([], True),
        (["--offline"], True),
        (["--region", "us-west-2", "--offline"], True),
        (["--region=all", "--profile", "ls"], True),  # 'ls' is the profile's name here
        (["--output", "json"], True),
        (["prices"], False),
        (["--region", "us-west-2", "prices"], False),
        (["prics"], False),  # a misspelt command still meets the full parser
        (["--help"], False),  # which lists the commands
    ],
)
def test_only_a_line_without_a_command_skips_the_commands_parsers(
    line: list[str], app: bool
) -> None:
    from dlpick.tui.cli.main import opens_the_app

    assert opens_the_app(line) is app


def test_opening_the_app_imports_no_commands_module() -> None:
    import json
    import subprocess
    import sys

    probe = (
        "import json, sys\n"
        "from dlpick.tui.cli.main import build_parser, opens_the_app\n"
        "build_parser(commands=not opens_the_app(['--offline'])).parse_args(['--offline'])\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert (
        not {"dlpick.remote.launch.execute", "dlpick.tui.cli.ssh", "dlpick.tui.cli.batch"} & loaded
    )


def test_a_misspelt_command_is_still_named_as_one(capsys: pytest.CaptureFixture[str]) -> None:
    from dlpick.tui.cli.main import main

    assert main(["prics"]) == 2
    assert "invalid choice: 'prics'" in capsys.readouterr().err
