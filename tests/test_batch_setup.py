"""`dlpick batch setup` and `teardown` against moto: what dlpick asks Batch for, and that
nothing tagged as dlpick's is left behind."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from dlpick.core.errors import EXIT_ERROR
from dlpick.remote.tags import MANAGED_TAG
from tests.batch_fixtures import client
from tests.launch_fixtures import run

SPOT, ON_DEMAND = "dlpick-spot", "dlpick-on-demand"


def environments() -> dict[str, dict[str, Any]]:
    found = client("batch").describe_compute_environments()["computeEnvironments"]
    return {e["computeEnvironmentName"]: e for e in found}


def queue_order(name: str) -> list[str]:
    queue = client("batch").describe_job_queues(jobQueues=[name])["jobQueues"][0]
    order = sorted(queue["computeEnvironmentOrder"], key=lambda o: o["order"])
    return [o["computeEnvironment"].rsplit("/", 1)[-1] for o in order]


def setup(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run(capsys, "batch", "setup", "--types", "g6.xlarge,g5.xlarge", *extra)


def test_setup_makes_a_spot_environment_that_picks_by_price_and_capacity(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = setup(capsys, "--max-vcpus", "96", "--yes")
    assert code == 0, err
    envs = environments()
    spot = envs[SPOT]["computeResources"]
    assert spot["type"] == "SPOT"
    assert spot["allocationStrategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    assert spot["ec2Configuration"] == [{"imageType": "ECS_AL2023_NVIDIA"}]
    assert spot["instanceTypes"] == ["g6.xlarge", "g5.xlarge"]
    assert (spot["minvCpus"], spot["maxvCpus"]) == (0, 96)
    on_demand = envs[ON_DEMAND]["computeResources"]
    assert on_demand["type"] == "EC2"
    assert on_demand["minvCpus"] == 0
    assert on_demand["ec2Configuration"] == [{"imageType": "ECS_AL2023_NVIDIA"}]
    for env in envs.values():
        assert env["tags"][MANAGED_TAG] == "true"
        assert env["computeResources"]["tags"][MANAGED_TAG] == "true"  # on the hosts too
    # The spot-first queue falls back to on-demand; multi-node jobs get on-demand only.
    assert queue_order("dlpick-spot-first") == [SPOT, ON_DEMAND]
    assert queue_order("dlpick-on-demand") == [ON_DEMAND]
    # The default VPC's subnets, and a group nothing can reach in through.
    ec2 = client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
    assert sorted(spot["subnets"]) == sorted(s["SubnetId"] for s in subnets["Subnets"])
    group = ec2.describe_security_groups(GroupIds=spot["securityGroupIds"])["SecurityGroups"][0]
    assert group["GroupName"] == "dlpick-batch" and group["IpPermissions"] == []
    # The hosts' role, with the policy ECS needs, reached through its instance profile.
    iam = client("iam")
    profile = iam.get_instance_profile(InstanceProfileName=spot["instanceRole"])
    assert [r["RoleName"] for r in profile["InstanceProfile"]["Roles"]] == ["dlpick-batch-instance"]
    attached = iam.list_attached_role_policies(RoleName="dlpick-batch-instance")
    assert [p["PolicyName"] for p in attached["AttachedPolicies"]] == [
        "AmazonEC2ContainerServiceforEC2Role"
    ]
    # Jobs may read their code from the bucket, and nothing else.
    bucket = "dlpick-batch-123456789012-us-east-1"
    policy = iam.get_role_policy(RoleName="dlpick-batch-job", PolicyName="dlpick-read-code")
    statement = policy["PolicyDocument"]["Statement"][0]
    assert statement["Resource"] == [f"arn:aws:s3:::{bucket}/*"]
    tags = client("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert {"Key": MANAGED_TAG, "Value": "true"} in tags
    assert "types         g6.xlarge 1x L4, spot $0.0116/TF-h" in out
    assert "All G and VT Spot Instance Requests: 64 vCPUs, 0 in use" in out


def test_a_second_setup_creates_nothing(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert setup(capsys, "--yes")[0] == 0
    before = environments()
    code, out, err = setup(capsys)  # no --yes: nothing to confirm
    assert code == 0, err
    assert "nothing to create or repair" in out
    assert " create dlpick" not in out and "repair " not in out
    assert environments() == before
    assert len(client("iam").list_roles(PathPrefix="/aws-service-role/")["Roles"]) >= 1


def test_dry_run_shows_the_plan_and_creates_nothing(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = setup(capsys, "--dry-run")
    assert code == 0, err
    assert "spot env.     create dlpick-spot (SPOT, SPOT_PRICE_CAPACITY_OPTIMIZED" in out
    assert "dry run: 10 piece(s) would be created; nothing was created" in out
    assert environments() == {}
    assert client("iam").list_instance_profiles()["InstanceProfiles"] == []


def test_setup_without_a_terminal_needs_yes(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = setup(capsys)
    assert code == EXIT_ERROR
    assert (
        err.splitlines()[-1]
        == "error: Create 10 piece(s) in us-east-1: needs confirmation; pass --yes"
    )
    assert environments() == {}


def test_without_types_the_best_spot_value_types_are_picked(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "batch", "setup", "--dry-run")
    assert code == 0, err
    # Ranked by spot $ per FP32 TFLOP-hour; the T4 and the A100 host cost more per TFLOP.
    picked = [line[14:].split()[0] for line in _type_lines(out)]
    assert picked == ["g6e.xlarge", "g6.xlarge", "g5.xlarge", "g6.12xlarge"]
    code, out, err = run(
        capsys, "batch", "setup", "--gpu", "L4", "--max-usd-per-tflop", "0.0153", "--dry-run"
    )
    assert code == 0, err
    assert [line[14:].split()[0] for line in _type_lines(out)] == ["g6.xlarge", "g6.12xlarge"]


def _type_lines(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("types "))
    found = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        found.append(line)
    return found


def test_a_cap_no_type_meets_is_refused(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "batch", "setup", "--max-usd-per-tflop", "0.001", "--dry-run")
    assert code == EXIT_ERROR
    assert "error: no type costs at most $0.001 per TFLOP-hour on spot" in err
    assert out == ""


def test_teardown_leaves_nothing_of_dlpicks_behind(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    assert setup(capsys, "--yes")[0] == 0
    code, out, err = run(capsys, "batch", "submit", "--", "python", "train.py")
    assert code == 0, err
    code, out, err = run(capsys, "batch", "teardown")  # no terminal: nothing removed
    assert code == EXIT_ERROR and len(environments()) == 2
    assert "compute env.  dlpick-spot (disable, then delete; its instances end)" in out
    code, out, err = run(capsys, "batch", "teardown", "--yes")
    assert code == 0, err
    assert "dlpick's Batch setup in us-east-1 is gone" in out
    batch = client("batch")
    assert environments() == {}
    assert batch.describe_job_queues()["jobQueues"] == []
    active = batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    assert [d for d in active if d.get("tags", {}).get(MANAGED_TAG)] == []
    iam = client("iam")
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert [r for r in roles if r.startswith("dlpick")] == []
    assert iam.list_instance_profiles()["InstanceProfiles"] == []
    assert [b for b in client("s3").list_buckets()["Buckets"] if "dlpick" in b["Name"]] == []
    tagged = client("ec2").describe_security_groups(
        Filters=[{"Name": f"tag:{MANAGED_TAG}", "Values": ["true"]}]
    )["SecurityGroups"]
    assert tagged == []
    # And once more: nothing left to remove.
    code, out, _ = run(capsys, "batch", "teardown", "--yes")
    assert (code, out.strip()) == (0, "nothing of dlpick's Batch setup in us-east-1")
    json.dumps(out)


def test_the_plan_warns_when_a_quota_stops_the_environment_growing(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = setup(capsys, "--max-vcpus", "128", "--dry-run")
    assert code == 0, err
    assert (
        "spot quota    All G and VT Spot Instance Requests: 64 vCPUs, 0 in use, 64 free for "
        "--max-vcpus 128 - short by 64"
    ) in out
    assert (
        "WARNING       spot jobs stop growing at 64 vCPUs; ask for more: dlpick quotas request "
        "L-3819A6DF 128 --region us-east-1"
    ) in out


def test_a_second_setup_with_other_types_changes_the_environments_in_place(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert setup(capsys, "--yes")[0] == 0
    arns = {n: e["computeEnvironmentArn"] for n, e in environments().items()}
    code, out, err = run(
        capsys, "batch", "setup", "--types", "g6e.xlarge", "--max-vcpus", "32", "--dry-run"
    )
    assert code == 0, err
    assert (
        "repair        dlpick-spot runs g6.xlarge, g5.xlarge: change its types to g6e.xlarge"
    ) in out
    assert "repair        dlpick-spot runs at most 64 vCPUs: set the most to 32" in out
    assert "dry run: 4 setting(s) would be repaired; nothing was changed" in out
    assert environments()[SPOT]["computeResources"]["instanceTypes"] == ["g6.xlarge", "g5.xlarge"]

    code, out, err = run(capsys, "batch", "setup", "--types", "g6e.xlarge", "--max-vcpus", "32")
    assert code == EXIT_ERROR  # no terminal, no --yes: nothing changed
    assert "error: Repair 4 setting(s) in us-east-1: needs confirmation; pass --yes" in err
    code, out, err = run(
        capsys, "batch", "setup", "--types", "g6e.xlarge", "--max-vcpus", "32", "--yes"
    )
    assert code == 0, err
    assert "AWS Batch is ready in us-east-1" in out
    envs = environments()
    for name in (SPOT, ON_DEMAND):
        resources = envs[name]["computeResources"]
        assert (resources["instanceTypes"], resources["maxvCpus"]) == (["g6e.xlarge"], 32)
        assert envs[name]["computeEnvironmentArn"] == arns[name]  # the same, changed in place
    # Without a choice of types, the environments keep the ones they have.
    code, out, err = run(capsys, "batch", "setup")
    assert code == 0, err
    assert "nothing to create or repair" in out
    assert "types         g6e.xlarge 1x L40S" in out
    assert "max vCPUs     32 per environment" in out


def test_a_setup_broken_behind_its_back_is_repaired_not_called_ready(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert setup(capsys, "--yes")[0] == 0
    iam, batch = client("iam"), client("batch")
    policy = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
    iam.detach_role_policy(RoleName="dlpick-batch-instance", PolicyArn=policy)
    iam.delete_role_policy(RoleName="dlpick-batch-job", PolicyName="dlpick-read-code")
    iam.remove_role_from_instance_profile(
        InstanceProfileName="dlpick-batch-instance", RoleName="dlpick-batch-instance"
    )
    batch.update_compute_environment(computeEnvironment=SPOT, state="DISABLED")
    on_demand_arn = environments()[ON_DEMAND]["computeEnvironmentArn"]
    batch.update_job_queue(
        jobQueue="dlpick-spot-first",
        state="DISABLED",
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": on_demand_arn}],
    )

    code, out, err = setup(capsys, "--dry-run")
    assert code == 0, err
    for line in (
        "instance role exists: dlpick-batch-instance (AmazonEC2ContainerServiceforEC2Role)",
        "repair        dlpick-batch-instance lacks AmazonEC2ContainerServiceforEC2Role (its "
        "hosts cannot join Batch; jobs would wait in RUNNABLE): attach "
        "AmazonEC2ContainerServiceforEC2Role",
        "repair        dlpick-batch-instance holds no role: add the role dlpick-batch-instance",
        "repair        dlpick-batch-job lacks its policy dlpick-read-code (jobs could not read "
        "their code): put dlpick-read-code back",
        "repair        dlpick-spot is DISABLED: enable it",
        "repair        dlpick-spot-first is DISABLED: enable it",
        "repair        dlpick-spot-first tries dlpick-on-demand: try dlpick-spot, then "
        "dlpick-on-demand",
        "dry run: 6 setting(s) would be repaired; nothing was changed",
    ):
        assert line in out.splitlines()
    assert "nothing to create" not in out and "ready" not in out
    assert (
        iam.list_attached_role_policies(RoleName="dlpick-batch-instance")["AttachedPolicies"] == []
    )

    code, out, err = setup(capsys, "--yes")
    assert code == 0, err
    assert "AWS Batch is ready in us-east-1" in out
    assert "... repaired dlpick-batch-instance: attach AmazonEC2ContainerServiceforEC2Role" in err
    attached = iam.list_attached_role_policies(RoleName="dlpick-batch-instance")
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [policy]
    profile = iam.get_instance_profile(InstanceProfileName="dlpick-batch-instance")
    assert [r["RoleName"] for r in profile["InstanceProfile"]["Roles"]] == ["dlpick-batch-instance"]
    document = iam.get_role_policy(RoleName="dlpick-batch-job", PolicyName="dlpick-read-code")
    assert document["PolicyDocument"]["Statement"][0]["Action"] == ["s3:GetObject"]
    assert environments()[SPOT]["state"] == "ENABLED"
    queue = batch.describe_job_queues(jobQueues=["dlpick-spot-first"])["jobQueues"][0]
    assert queue["state"] == "ENABLED"
    assert queue_order("dlpick-spot-first") == [SPOT, ON_DEMAND]
    # Converged: a third setup finds nothing to do.
    code, out, err = setup(capsys)
    assert code == 0, err
    assert "nothing to create or repair" in out and "repair " not in out


def test_a_policy_rewritten_behind_its_back_is_written_again(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert setup(capsys, "--yes")[0] == 0
    iam = client("iam")
    wide = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}],
    }
    iam.put_role_policy(
        RoleName="dlpick-batch-job", PolicyName="dlpick-read-code", PolicyDocument=json.dumps(wide)
    )
    code, out, err = setup(capsys, "--yes")
    assert code == 0, err
    bucket = "dlpick-batch-123456789012-us-east-1"
    assert (
        f"repair        dlpick-batch-job has a policy dlpick-read-code other than reading "
        f"s3://{bucket}: write dlpick-read-code again"
    ) in out
    document = iam.get_role_policy(RoleName="dlpick-batch-job", PolicyName="dlpick-read-code")
    assert document["PolicyDocument"]["Statement"][0]["Resource"] == [f"arn:aws:s3:::{bucket}/*"]


def test_what_aws_cannot_change_in_place_is_named_and_nothing_changes(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert setup(capsys, "--yes")[0] == 0
    batch, iam = client("batch"), client("iam")
    spot = environments()[SPOT]
    # The spot environment made again by hand as an on-demand one, and a policy detached.
    batch.update_compute_environment(computeEnvironment=SPOT, state="DISABLED")
    batch.delete_compute_environment(computeEnvironment=SPOT)
    resources = {**spot["computeResources"], "type": "EC2"}
    resources.pop("bidPercentage", None)
    batch.create_compute_environment(
        computeEnvironmentName=SPOT,
        type="MANAGED",
        state="ENABLED",
        serviceRole=spot["serviceRole"],
        computeResources=resources,
    )
    policy = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
    iam.detach_role_policy(RoleName="dlpick-batch-instance", PolicyArn=policy)
    for extra in (("--dry-run",), ("--yes",)):
        code, out, err = setup(capsys, *extra)
        assert code == EXIT_ERROR
        assert (
            "DIFFERS       dlpick-spot runs EC2 hosts, not SPOT; AWS cannot change that in place"
        ) in out.splitlines()
        assert err.splitlines()[-1] == (
            "error: dlpick's Batch setup in us-east-1 differs where AWS cannot change it in "
            "place: dlpick-spot runs EC2 hosts, not SPOT — dlpick batch teardown --region "
            "us-east-1, then setup makes it again"
        )
        assert "ready" not in out
    # Nothing was changed, not even what could have been repaired.
    assert (
        iam.list_attached_role_policies(RoleName="dlpick-batch-instance")["AttachedPolicies"] == []
    )
