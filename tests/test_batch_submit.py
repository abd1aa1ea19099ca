"""`dlpick batch submit` against moto: the job definition and job dlpick sends.

moto runs no container: a job is SUCCEEDED as soon as it is submitted, and it does
not schedule multi-node jobs or reclaim spot hosts. So these tests read back what
dlpick registered and submitted, not how Batch would run it.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dlpick.core.errors import EXIT_ERROR, EXIT_USAGE
from dlpick.remote.batch.submit import default_image
from dlpick.remote.tags import MANAGED_TAG
from tests.batch_fixtures import client, set_up
from tests.launch_fixtures import run

BUCKET = "dlpick-batch-123456789012-us-east-1"


@pytest.fixture
def batch_ready(batch_account: SimpleNamespace) -> None:
    set_up("g6.xlarge", "g6.12xlarge", "p4d.24xlarge")


def submit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str, str]:
    """Exit code, stdout, stderr and the id of the job submitted ('' when none)."""
    code, out, err = run(capsys, "batch", "submit", *argv)
    ids = [line.split()[1] for line in out.splitlines() if line.startswith("submitted ")]
    return code, out, err, ids[0] if ids else ""


def job(job_id: str) -> dict[str, Any]:
    return dict(client("batch").describe_jobs(jobs=[job_id])["jobs"][0])


def definitions() -> list[dict[str, Any]]:
    found = client("batch").describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    return [d for d in found if d["jobDefinitionName"].startswith("dlpick-")]


def test_a_job_asks_for_its_share_of_the_host_and_retries_only_spot_reclaims(
    batch_ready: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err, job_id = submit(
        capsys, "--max-hours", "2", "--", "python", "train.py", "--epochs", "3"
    )
    assert code == 0, err
    described = job(job_id)
    assert described["jobQueue"].endswith("/dlpick-spot-first")
    assert described["status"] == "SUCCEEDED"  # moto: done as soon as submitted
    assert described["container"]["command"] == ["python", "train.py", "--epochs", "3"]
    assert described["jobName"] == "dlpick-train"
    [definition] = definitions()
    assert definition["type"] == "container"
    props = definition["containerProperties"]
    # The smallest type with a GPU: g6.xlarge, 4 vCPUs and 16 GiB, 90% of it for the job.
    assert props["resourceRequirements"] == [
        {"type": "GPU", "value": "1"},
        {"type": "VCPU", "value": "4"},
        {"type": "MEMORY", "value": str(int(16384 * 0.9))},
    ]
    assert props["image"] == default_image("us-east-1")
    assert props["image"].startswith(
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:"
    )
    assert props["jobRoleArn"].endswith(":role/dlpick-batch-job")
    retry = definition["retryStrategy"]
    assert retry["attempts"] == 3
    assert [
        (e.get("onStatusReason"), e.get("onReason"), e["action"].upper())
        for e in retry["evaluateOnExit"]
    ] == [("Host EC2*", None, "RETRY"), (None, "*", "EXIT")]
    assert definition["timeout"] == {"attemptDurationSeconds": 7200}
    assert definition["tags"][MANAGED_TAG] == "true"
    assert "quota         All G and VT Spot Instance Requests" in out


def test_the_same_job_again_reuses_its_definition(
    batch_ready: None, capsys: pytest.CaptureFixture[str]
) -> None:
    first = submit(capsys, "--", "python", "train.py")
    second = submit(capsys, "--name", "again", "--", "python", "train.py")
    assert first[0] == second[0] == 0
    assert job(first[3])["jobDefinition"] == job(second[3])["jobDefinition"]
    assert len(definitions()) == 1
    assert job(second[3])["jobName"] == "again"
    # Other content, another definition.
    assert submit(capsys, "--gpus", "4", "--", "python", "train.py")[0] == 0
    four = [
        d
        for d in definitions()
        if d["containerProperties"]["resourceRequirements"][0]["value"] == "4"
    ]
    assert len(definitions()) == 2 and len(four) == 1
    # Four GPUs: all of a g6.12xlarge.
    assert four[0]["containerProperties"]["resourceRequirements"][1:] == [
        {"type": "VCPU", "value": "48"},
        {"type": "MEMORY", "value": str(int(196608 * 0.9))},
    ]


def test_an_array_job_has_children_told_their_index(
    batch_ready: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err, job_id = submit(capsys, "--array", "3", "--", "python", "sweep.py")
    assert code == 0, err
    parent = job(job_id)
    assert parent["arrayProperties"]["size"] == 3
    children = client("batch").list_jobs(arrayJobId=job_id, jobStatus="SUCCEEDED")
    assert sorted(c["jobId"] for c in children["jobSummaryList"]) == [
        f"{job_id}:{i}" for i in range(3)
    ]


def test_a_multi_node_job_goes_to_the_on_demand_queue(
    batch_ready: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err, job_id = submit(capsys, "--nodes", "2", "--", "torchrun", "train.py")
    assert code == 0, err
    described = job(job_id)
    assert described["jobQueue"].endswith("/dlpick-on-demand")
    nodes = described["nodeProperties"]
    assert (nodes["numNodes"], nodes["mainNode"]) == (2, 0)
    [group] = nodes["nodeRangeProperties"]
    assert group["targetNodes"] == "0:"
    # Each node is a whole host of one type.
    assert group["container"]["instanceType"] == "g6.xlarge"
    assert group["container"]["resourceRequirements"][:2] == [
        {"type": "GPU", "value": "1"},
        {"type": "VCPU", "value": "4"},
    ]
    assert group["container"]["command"] == ["torchrun", "train.py"]
    assert "queue         dlpick-on-demand (on-demand)" in out
    assert "this launch needs 8 - fits" in out


def test_a_multi_node_job_counts_every_host_against_the_on_demand_quota(
    batch_ready: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err, _ = submit(
        capsys, "--nodes", "2", "--type", "g6.12xlarge", "--", "torchrun", "train.py"
    )
    assert code == EXIT_ERROR
    # 2 x 48 vCPUs against 64 on-demand G vCPUs.
    assert "Running On-Demand G and VT instances (L-DB2E81BA): 64 vCPUs" in err
    assert "this launch needs 96 - short by 32; not submitting" in err
    assert (
        client("batch").list_jobs(jobQueue="dlpick-on-demand", jobStatus="SUCCEEDED")[
            "jobSummaryList"
        ]
        == []
    )


def test_code_is_uploaded_once_and_fetched_before_the_command(
    batch_ready: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code_dir = tmp_path / "project"
    (code_dir / "pkg").mkdir(parents=True)
    (code_dir / "train.py").write_text("print('hi')\n")
    (code_dir / "pkg" / "model.py").write_text("X = 1\n")
    (code_dir / ".git").mkdir()
    (code_dir / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    code, _, err, job_id = submit(capsys, "--code", str(code_dir), "--", "python", "train.py")
    assert code == 0, err
    objects = client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
    assert len(objects) == 1
    body = client("s3").get_object(Bucket=BUCKET, Key=objects[0]["Key"])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["pkg/model.py", "train.py"]
    props = definitions()[0]["containerProperties"]
    assert props["environment"] == [
        {"name": "DLPICK_CODE_URI", "value": f"s3://{BUCKET}/{objects[0]['Key']}"}
    ]
    command = job(job_id)["container"]["command"]
    assert command[:2] == ["bash", "-c"] and command[-2:] == ["python", "train.py"]
    assert 'aws s3 cp --only-show-errors "$DLPICK_CODE_URI" - | tar -xzf -' in command[2]
    code, _, err, _ = submit(capsys, "--code", str(code_dir), "--", "python", "train.py")
    assert code == 0 and "code already in s3://" in err
    assert len(client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]) == 1


def test_a_job_the_quota_cannot_hold_is_refused_before_submitting(
    batch_ready: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err, _ = submit(capsys, "--type", "p4d.24xlarge", "--", "python", "train.py")
    assert code == EXIT_ERROR
    assert err.splitlines()[-1].startswith(
        "error: All P Spot Instance Requests (L-7212CCBC): 0 vCPUs"
    )
    assert "not submitting" in err and "dlpick quotas request L-7212CCBC 96" in err
    assert (
        client("batch").list_jobs(jobQueue="dlpick-spot-first", jobStatus="SUCCEEDED")[
            "jobSummaryList"
        ]
        == []
    )


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["python", "-m", "pkg.train", "--lr", "3e-4"], "dlpick-pkg-train"),
        (["accelerate", "launch", "finetune.py"], "dlpick-finetune"),
        (["./run me.sh"], "dlpick-run-me-sh"),
    ],
)
def test_a_job_is_named_after_its_script(command: list[str], name: str) -> None:
    from dlpick.remote.batch.submit import SubmitRequest, job_name

    assert job_name(SubmitRequest("us-east-1", command)) == name


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nodes", "2", "--array", "3", "--", "x"], "--nodes and --array cannot be combined"),
        (["--max-hours", "0.001", "--", "x"], "--max-hours must be at least one minute"),
        (["--type", "g5.xlarge", "--", "x"], "g5.xlarge is not one of the environment's types"),
        (["--gpus", "16", "--", "x"], "no type of the environment has 16 GPUs"),
    ],
)
def test_bad_shapes_are_refused(
    batch_ready: None, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err, _ = submit(capsys, *argv)
    assert code == EXIT_ERROR
    assert message in err and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--name", "ü name"],
            "error: job name 'ü name': use letters, digits, '_' or '-', starting with a letter "
            "or digit (up to 128, no spaces)",
        ),
        (
            ["--name", "$(touch x)"],
            "error: job name '$(touch x)': use letters, digits, '_' or '-', starting with a "
            "letter or digit (up to 128, no spaces)",
        ),
        (["--name", ""], "error: job name '': use letters, digits"),
        (["--name", "_lead"], "error: job name '_lead': use letters, digits"),
        (["--name", "n" * 129], f"error: job name '{'n' * 129}': use letters"),
        (
            ["--image", ""],
            "error: --image '' is not an image URI — leave --image out for AWS's PyTorch "
            "training image",
        ),
        (["--image", " "], "error: --image ' ' is not an image URI"),
    ],
)
def test_a_name_or_image_batch_would_take_otherwise_is_refused_before_any_call(
    batch_account: SimpleNamespace,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    # No setup here: the refusal comes before dlpick asks AWS anything.
    code, out, err, job_id = submit(capsys, *argv, "--", "python", "train.py")
    assert (code, out, job_id) == (EXIT_ERROR, "", "")
    assert err.startswith(message) and err.count("\n") == 1, err


def test_a_name_batch_takes_is_the_jobs_name_as_given(
    batch_ready: None, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "Sweep_lr-3e-4_" + "x" * 114  # 128 characters
    code, out, err, job_id = submit(capsys, "--name", name, "--", "python", "train.py")
    assert code == 0, err
    assert job(job_id)["jobName"] == name
    assert out.splitlines()[-3:] == [
        f"submitted {job_id} to dlpick-spot-first in us-east-1",
        f"  follow  dlpick batch logs {job_id} --follow --region us-east-1",
        f"  stop    dlpick batch cancel {job_id} --region us-east-1",
    ]


@pytest.mark.parametrize("argv", [[], ["--"], ["--name", "x"]])
def test_a_missing_command_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    from dlpick.tui.cli.main import main

    assert main(["batch", "submit", *argv]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("dlpick batch submit: error: no command given") and err.count("\n") == 1


def test_submit_and_jobs_before_setup_say_to_run_setup(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err, _ = submit(capsys, "--", "python", "train.py")
    assert code == EXIT_ERROR
    assert err == (
        "error: no dlpick Batch setup in us-east-1 — dlpick batch setup --region us-east-1\n"
    )
    # Not AWS's "Job queue dlpick-spot-first does not exist", nor an empty list.
    for argv in (["--region", "us-west-2"], ["--region", "us-west-2", "--format", "json"]):
        code, out, err = run(capsys, "batch", "jobs", *argv)
        assert (code, out) == (EXIT_ERROR, "")
        assert err == (
            "error: no dlpick Batch setup in us-west-2 — dlpick batch setup --region us-west-2\n"
        )
