"""What of dlpick's Batch setup is there now, and waiting for Batch to finish a change.

Batch creates, disables and deletes environments and queues asynchronously; setup and
teardown poll these lookups until Batch says it is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dlpick.core.aws_errors import expect
from dlpick.core.errors import AwsError, InputError
from dlpick.remote.batch import names as names

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_iam import IAMClient

    from dlpick.core.aws import Aws

# Batch makes environments and queues in a few minutes, usually.
WAIT_SECONDS = 600.0


def find_service_role(iam: IAMClient) -> str | None:
    """The ARN of Batch's service-linked role, when the account has one."""
    roles = expect(
        iam.list_roles(PathPrefix=f"/aws-service-role/{names.BATCH_SERVICE}/"), "Roles", list
    )
    return str(roles[0]["Arn"]) if roles else None


def environments(batch: BatchClient, wanted: Sequence[str]) -> dict[str, Any]:
    """dlpick's compute environments by name (gone ones left out)."""
    found = batch.describe_compute_environments(computeEnvironments=list(wanted))
    return {
        str(e["computeEnvironmentName"]): e
        for e in expect(found, "computeEnvironments", list)
        if e.get("status") != "DELETED"
    }


def queues(batch: BatchClient, wanted: Sequence[str]) -> dict[str, Any]:
    """dlpick's job queues by name (gone ones left out)."""
    found = batch.describe_job_queues(jobQueues=list(wanted))
    return {
        str(q["jobQueueName"]): q
        for q in expect(found, "jobQueues", list)
        if q.get("status") != "DELETED"
    }


def no_setup(region: str) -> InputError:
    """The refusal of a command that needs dlpick's Batch setup in a region without it."""
    return InputError(
        f"no dlpick Batch setup in {region}", hint=f"dlpick batch setup --region {region}"
    )


def find_group(aws: Aws, region: str, vpc_id: str) -> str | None:
    groups = aws.ec2(region).describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [names.SECURITY_GROUP]},
            {"Name": "vpc-id", "Values": [vpc_id]},
        ]
    )["SecurityGroups"]
    return str(groups[0]["GroupId"]) if groups else None


def wait_until(
    what: str,
    ready: Callable[[], bool],
    *,
    timeout: float = WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll `ready` until it holds; an AwsError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AwsError(f"{what} did not happen within {timeout:g} s", code="Timeout")
        sleep(5.0)


def until_valid(lookup: Callable[[], dict[str, Any]], name: str) -> Callable[[], bool]:
    def ready() -> bool:
        found = lookup().get(name)
        if found is None:
            return False
        if found.get("status") == "INVALID":
            raise AwsError(
                f"{name} is INVALID: {found.get('statusReason', 'no reason given')}",
                code="Invalid",
            )
        return found.get("status") == "VALID"

    return ready
