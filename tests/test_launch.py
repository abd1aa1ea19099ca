"""Quotas and launching, against moto server with what moto lacks seeded in."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from dlpick.core.aws import Aws, TranslatingClient
from dlpick.core.errors import LaunchError
from dlpick.remote.launch.access import ssh_rules, write_private_key
from dlpick.remote.launch.images import find_ami
from dlpick.remote.launch.quotas import check_quota
from tests.launch_fixtures import (
    BASE_X86,
    G_OD,
    NEURON,
    P_OD,
    REGION,
    live_instances,
    run,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import SecurityGroupTypeDef


def ec2() -> EC2Client:
    return boto3.client("ec2", region_name=REGION)


def security_groups() -> list[SecurityGroupTypeDef]:
    return ec2().describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["dlpick-ssh"]}]
    )["SecurityGroups"]


ORIGINAL_CLIENT = Aws.client


def hook_ec2(monkeypatch: pytest.MonkeyPatch, event: str, handler: Any) -> None:
    """Register a botocore event handler on every EC2 client dlpick makes from now on."""

    hooked: list[TranslatingClient] = []

    def client(self: Aws, service: str, region: str) -> TranslatingClient:
        made = ORIGINAL_CLIENT(self, service, region)
        if service == "ec2" and made not in hooked:
            made.meta.events.register(event, handler)
            hooked.append(made)
        return made

    monkeypatch.setattr(Aws, "client", client)


def fail_call(
    monkeypatch: pytest.MonkeyPatch, operation: str, code: str, message: str = ""
) -> list[int]:
    """Make one EC2 operation answer with an error (botocore stubbing of that call only)."""
    calls: list[int] = []

    def answer(**_: Any) -> tuple[Any, dict[str, Any]]:
        calls.append(1)
        return SimpleNamespace(status_code=400), {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    hook_ec2(monkeypatch, f"before-call.ec2.{operation}", answer)
    return calls


# -- quotas ---------------------------------------------------------------------


def test_quota_verdicts_count_running_instances_of_the_same_class(account: SimpleNamespace) -> None:
    aws = Aws()
    fits = check_quota(aws, REGION, "g6.xlarge", 4)
    assert (fits.verdict, fits.used_vcpus, fits.quota and fits.quota.code) == ("fits", 0, G_OD)
    ec2().run_instances(
        ImageId=account.images["base"], InstanceType="g6.12xlarge", MinCount=1, MaxCount=1
    )
    ec2().run_instances(
        ImageId=account.images["base"], InstanceType="g6.12xlarge", MinCount=1, MaxCount=1
    )
    # A spot instance and a non-GPU instance count against other quotas.
    ec2().run_instances(
        ImageId=account.images["base"],
        InstanceType="g6.12xlarge",
        MinCount=1,
        MaxCount=1,
        InstanceMarketOptions={"MarketType": "spot"},
    )
    ec2().run_instances(
        ImageId=account.images["base"], InstanceType="m5.large", MinCount=1, MaxCount=1
    )
    check = check_quota(aws, REGION, "g6.12xlarge", 48)
    assert (check.used_vcpus, check.verdict, check.short_by) == (96, "short", 80)
    assert check.request_value == 144
    spot = check_quota(aws, REGION, "g6.xlarge", 4, spot=True)
    assert (spot.used_vcpus, spot.verdict) == (48, "fits")


def test_quota_code_is_resolved_by_name_from_the_account(account: SimpleNamespace) -> None:
    account.aws.moto.quotas.set(REGION, "L-1945791B", "Running On-Demand Inf instances", 16)
    check = check_quota(Aws(), REGION, "inf2.xlarge", 4)
    assert check.quota is not None and check.quota.code == "L-1945791B"
    assert check.verdict == "fits"


def test_quota_unknown_when_the_account_lists_no_such_quota(account: SimpleNamespace) -> None:
    check = check_quota(Aws(), REGION, "inf2.xlarge", 4)
    assert check.verdict == "unknown"
    assert "lists no quota named 'Running On-Demand Inf instances'" in check.summary()


def test_quota_unknown_without_permission(account: SimpleNamespace) -> None:
    account.aws.moto.quotas.deny = True
    check = check_quota(Aws(), REGION, "g6.xlarge", 4)
    assert check.verdict == "unknown"
    assert "quota unknown" in check.summary()


def test_quotas_command_lists_usage_and_requests(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2().run_instances(
        ImageId=account.images["base"], InstanceType="g6.xlarge", MinCount=1, MaxCount=1
    )
    code, out, _ = run(capsys, "quotas", "--region", REGION)
    assert code == 0
    line = next(line for line in out.splitlines() if G_OD in line)
    assert "64" in line and " 4 " in f"{line} "
    code, out, err = run(capsys, "quotas", "request", P_OD, "192")
    assert code == 1 and "pass --yes" in err
    code, out, _ = run(capsys, "quotas", "request", P_OD, "192", "--region", REGION, "--yes")
    assert code == 0 and "PENDING" in out
    assert account.aws.moto.quotas.requests[0]["DesiredValue"] == 192
    code, out, _ = run(capsys, "quotas", "--region", REGION)
    assert "192 (pending)" in out


# -- AMIs -----------------------------------------------------------------------


def test_ami_lookup_per_flavour_and_architecture(account: SimpleNamespace) -> None:
    aws = Aws()
    base = find_ami(aws, REGION, "base", "ubuntu-24.04", "x86_64", "g6")
    assert (base.image_id, base.parameter, base.login_user) == (
        account.images["base"],
        BASE_X86,
        "ubuntu",
    )
    assert base.name.startswith("Deep Learning Base OSS")
    arm = find_ami(aws, REGION, "base", "ubuntu-24.04", "arm64", "g5g")
    assert arm.image_id == account.images["arm"]
    torch = find_ami(aws, REGION, "pytorch", "ubuntu-24.04", "x86_64", "g6")
    assert torch.image_id == account.images["torch210"]  # 2.10 is newer than 2.7
    pinned = find_ami(aws, REGION, "pytorch-2.7", "ubuntu-24.04", "x86_64", "p5")
    assert pinned.image_id == account.images["torch27"]
    neuron = find_ami(aws, REGION, "base", "ubuntu-24.04", "x86_64", "trn1")
    assert (neuron.image_id, neuron.parameter) == (account.images["neuron"], NEURON)
    with pytest.raises(LaunchError, match="no Deep Learning AMI supports AMD"):
        find_ami(aws, REGION, "base", "ubuntu-24.04", "x86_64", "g4ad")
    with pytest.raises(LaunchError, match="no base Deep Learning AMI for al2023"):
        find_ami(aws, REGION, "base", "al2023", "x86_64", "g6")


# -- launching ------------------------------------------------------------------


def test_launch_creates_a_tagged_instance_reachable_only_from_the_caller(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str], isolated_home: Path
) -> None:
    code, out, err = run(
        capsys, "launch", "g6.xlarge", "--region", REGION, "--name", "trainer", "--yes"
    )
    assert code == 0, err
    [instance] = live_instances()
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["Name"] == "trainer" and tags["dlpick:managed"] == "true"
    assert tags["dlpick:owner"] == "arn:aws:sts::123456789012:user/moto"
    assert (
        instance["ImageId"] == account.images["base"] and instance["KeyName"] == "dlpick-us-east-1"
    )
    key = isolated_home / ".ssh" / "dlpick-us-east-1.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in key.read_text()
    [group] = security_groups()
    assert ssh_rules(group) == ["203.0.113.7/32"]
    assert [p["FromPort"] for p in group["IpPermissions"]] == [22]
    assert instance["SecurityGroups"][0]["GroupId"] == group["GroupId"]
    volume = ec2().describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]}]
    )["Volumes"][0]
    assert (volume["Size"], volume["VolumeType"]) == (200, "gp3")
    assert f"ssh -i {key} ubuntu@" in out
    assert f"dlpick terminate {instance['InstanceId']}" in out


def test_the_same_launch_twice_starts_one_instance(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "launch", "g6.xlarge", "--yes")[0] == 0
    code, out, _ = run(capsys, "launch", "g6.xlarge", "--yes")
    assert code == 0 and "already running" in out
    assert len(live_instances()) == 1
    assert len(security_groups()) == 1
    assert len(ec2().describe_key_pairs()["KeyPairs"]) == 1
    # Asked for explicitly, a second one starts.
    assert run(capsys, "launch", "g6.xlarge", "--yes", "--new")[0] == 0
    assert len(live_instances()) == 2


def test_a_crash_after_the_request_is_recovered_without_a_second_instance(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost_answer(**_: Any) -> None:
        raise ConnectionResetError("connection lost before the answer arrived")

    hook_ec2(monkeypatch, "after-call.ec2.RunInstances", lost_answer)
    code, out, err = run(capsys, "launch", "g6.xlarge", "--yes")
    # AWS started it; the answer was lost: the launch finds it by its token tag.
    [instance] = live_instances()
    assert code == 0 and "Traceback" not in err
    assert f"the answer was lost, but {instance['InstanceId']} started in {REGION}" in err
    assert f"{instance['InstanceId']} is running" in out
    monkeypatch.setattr(Aws, "client", ORIGINAL_CLIENT)
    code, out, _ = run(capsys, "launch", "g6.xlarge", "--yes")
    assert code == 0 and "already running" in out
    assert len(live_instances()) == 1


def test_existing_private_key_is_imported_never_overwritten(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str], isolated_home: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = isolated_home / ".ssh" / "dlpick-us-east-1.pem"
    key.parent.mkdir()
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    key.write_bytes(pem)
    key.chmod(0o600)
    assert run(capsys, "launch", "g6.xlarge", "--yes")[0] == 0
    assert key.read_bytes() == pem
    pair = ec2().describe_key_pairs(KeyNames=["dlpick-us-east-1"])["KeyPairs"][0]
    assert pair["KeyName"] == "dlpick-us-east-1"
    with pytest.raises(LaunchError, match="never overwrites"):
        write_private_key(key, "another key")
    assert key.read_bytes() == pem


def test_a_new_address_replaces_the_old_ssh_rule(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "launch", "g6.xlarge", "--yes")[0] == 0
    account.checkip.body = "198.51.100.23\n"
    assert run(capsys, "launch", "g6.2xlarge", "--yes")[0] == 0
    [group] = security_groups()
    assert ssh_rules(group) == ["198.51.100.23/32"]


def test_an_address_lookup_that_fails_says_why_in_words(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: refused
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/"
        monkeypatch.setenv("DLPICK_CHECKIP_URL", url)
        code, _, err = run(capsys, "launch", "g6.xlarge", "--dry-run")
    assert code == 1
    assert err.splitlines()[-1] == (
        f"error: cannot find your public IP from {url} (Connection refused); "
        "pass --ssh-cidr x.x.x.x/32"
    )


def test_open_ssh_needs_an_explicit_cidr_and_is_flagged(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "launch", "g6.xlarge", "--ssh-cidr", "0.0.0.0/0", "--dry-run")
    assert code == 0 and "open to the whole internet" in out
    code, _, err = run(capsys, "launch", "g6.xlarge", "--ssh-cidr", "everyone", "--yes")
    assert code == 2 and "--ssh-cidr 'everyone' is not a CIDR range" in err


def test_the_plan_is_one_column_and_says_who_may_ssh_in(
    account: SimpleNamespace, ec2_front: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Labels longer than most (security group, placement score) keep the values aligned."""
    argv = ("launch", "g6.xlarge", "--spot", "--ssh-cidr", "0.0.0.0/0", "--dry-run")
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    plan = out.splitlines()[:-1]  # the dry run's verdict ends it
    labels = ["instance", "security group", "placement score", "no capacity"]
    column = len("placement score ")
    assert [line[:column].strip() for line in plan if line.startswith(tuple(labels))] == labels
    for line in plan:
        assert line[column - 1] == " " and line[column] != " ", line
    group = next(line for line in plan if line.startswith("security group"))
    assert group.endswith("SSH (22/tcp) from anywhere (0.0.0.0/0)")
    assert "0.0.0.0/0 only" not in out

    code, out, _ = run(capsys, "launch", "g6.xlarge", "--ssh-cidr", "203.0.113.7", "--dry-run")
    assert code == 0 and "SSH (22/tcp) from 203.0.113.7/32 only" in out


def test_short_quota_refuses_before_creating_anything(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "launch", "p5.48xlarge", "--region", REGION, "--yes")
    assert code == 1
    assert (
        "Running On-Demand P instances (L-417A185B): 0 vCPUs, 0 in use, this launch needs 192"
        in err
    )
    assert "dlpick quotas request L-417A185B 192 --region us-east-1" in err
    assert err.count("\n") == 2  # the planning line and the refusal
    assert live_instances() == [] and security_groups() == []
    assert ec2().describe_key_pairs()["KeyPairs"] == []


def test_dry_run_checks_permission_and_creates_nothing(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "launch", "g6.xlarge", "--spot", "--max-price", "0.5", "--dry-run")
    assert code == 0
    assert "dry run: AWS accepts this launch; nothing was created" in out
    assert "spot (one-time, terminated on interruption)" in out
    assert "create dlpick-ssh: SSH (22/tcp) from 203.0.113.7/32 only" in out
    assert live_instances() == [] and security_groups() == []
    assert ec2().describe_key_pairs()["KeyPairs"] == []


def test_spot_launch_is_one_time_and_terminates_on_interruption(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    hook_ec2(
        monkeypatch,
        "provide-client-params.ec2.RunInstances",
        lambda params, **_: seen.append(params),
    )
    assert run(capsys, "launch", "g6.xlarge", "--spot", "--max-price", "0.5", "--yes")[0] == 0
    options = seen[-1]["InstanceMarketOptions"]
    assert options == {
        "MarketType": "spot",
        "SpotOptions": {
            "SpotInstanceType": "one-time",
            "InstanceInterruptionBehavior": "terminate",
            "MaxPrice": "0.50000",
        },
    }
    assert seen[-1]["ClientToken"].startswith("dlpick-")
    assert live_instances()[0].get("InstanceLifecycle") == "spot"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            "InsufficientInstanceCapacity",
            "no g6.xlarge capacity in us-east-1; nothing was launched; next best: ",
        ),
        ("Unsupported", "no g6.xlarge capacity in us-east-1; nothing was launched"),
        ("VcpuLimitExceeded", "vCPU quota for g6.xlarge in us-east-1 is used up"),
        ("SpotMaxPriceTooLow", "the g6.xlarge spot price is above --max-price in us-east-1"),
        ("MaxSpotInstanceCountExceeded", "too many spot requests"),
        ("UnauthorizedOperation", "may not launch instances"),
        ("OptInRequired", "is not enabled for your account"),
        ("ExpiredToken", "AWS credentials were refused (ExpiredToken)"),
        ("RequestLimitExceeded", "AWS is throttling requests"),
    ],
)
def test_launch_errors_are_one_line_and_leave_nothing_half_made(
    account: SimpleNamespace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    expected: str,
) -> None:
    calls = fail_call(monkeypatch, "RunInstances", code, "refused")
    status, _, err = run(capsys, "launch", "g6.xlarge", "--spot", "--yes")
    assert status == 1 and calls
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and expected in last, last
    assert "Traceback" not in err
    # What was made is found and reused on the next try, never duplicated.
    monkeypatch.setattr(Aws, "client", ORIGINAL_CLIENT)
    assert run(capsys, "launch", "g6.xlarge", "--spot", "--yes")[0] == 0
    assert len(security_groups()) == 1 and len(ec2().describe_key_pairs()["KeyPairs"]) == 1
    assert len(live_instances()) == 1


def test_unknown_key_pair_and_unoffered_type(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "launch", "g6.xlarge", "--key-name", "nope", "--yes")
    assert code == 1 and "key pair 'nope' does not exist in us-east-1" in err
    code, _, err = run(capsys, "launch", "p5.48xlarge", "--region", "af-south-1", "--yes")
    assert (
        code == 1 and "p5.48xlarge is not offered in af-south-1" in err and "other regions:" in err
    )
    code, _, err = run(capsys, "launch", "g9.xlarge", "--yes")
    assert code == 1 and "g9.xlarge" in err and "Traceback" not in err


def test_launch_without_credentials_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "launch", "g6.xlarge", "--yes")
    assert code == 1 and err == (
        "error: no AWS credentials found — run `aws configure`, "
        "or set AWS_PROFILE or AWS_ACCESS_KEY_ID\n"
    )


def test_private_key_write_is_atomic_and_private(tmp_path: Path) -> None:
    path = tmp_path / "ssh" / "k.pem"
    write_private_key(
        path, "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["k.pem"]
    assert os.path.getsize(path) > 0
