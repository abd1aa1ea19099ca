"""`dlpick batch teardown`: remove what setup made, so nothing is left that bills.

Only what carries dlpick's tag is removed. Batch refuses to delete an enabled queue
or environment, so each is disabled first and deleted once Batch says so; jobs still
active are stopped first, since deleting their queue would end them anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dlpick.core.errors import AwsError
from dlpick.remote.batch import names as names
from dlpick.remote.batch.jobs import ACTIVE_STATES
from dlpick.remote.batch.state import environments, find_group, queues, wait_until
from dlpick.remote.launch.access import default_vpc
from dlpick.remote.tags import MANAGED_TAG

if TYPE_CHECKING:
    from dlpick.core.aws import Aws


@dataclass
class TeardownPlan:
    """What teardown will remove, each found by name and dlpick's tag."""

    region: str
    bucket: str
    active_jobs: list[tuple[str, str, str]] = field(default_factory=list)  # id, name, status
    queues: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    job_definitions: list[str] = field(default_factory=list)  # ARNs
    bucket_objects: int | None = None  # None: no bucket of dlpick's
    security_group: str | None = None
    roles: list[str] = field(default_factory=list)
    instance_profile: bool = False

    @property
    def empty(self) -> bool:
        return not (
            self.active_jobs
            or self.queues
            or self.environments
            or self.job_definitions
            or self.bucket_objects is not None
            or self.security_group
            or self.roles
            or self.instance_profile
        )

    def lines(self) -> list[str]:
        out = [f"stop job      {i} {n} ({s})" for i, n, s in self.active_jobs]
        out += [f"job queue     {q} (disable, then delete)" for q in self.queues]
        out += [
            f"compute env.  {e} (disable, then delete; its instances end)"
            for e in self.environments
        ]
        if self.job_definitions:
            out.append(f"job defs      {len(self.job_definitions)} dlpick job definition(s)")
        if self.bucket_objects is not None:
            out.append(f"code bucket   s3://{self.bucket} and its {self.bucket_objects} object(s)")
        if self.security_group:
            out.append(f"sec. group    {names.SECURITY_GROUP} ({self.security_group})")
        if self.instance_profile:
            out.append(f"inst. profile {names.INSTANCE_ROLE}")
        out += [f"IAM role      {r}" for r in self.roles]
        return out


def _managed_iam(aws: Aws, region: str, role: str) -> bool:
    try:
        tags = aws.iam(region).list_role_tags(RoleName=role)["Tags"]
    except AwsError as exc:
        if exc.code == "NoSuchEntity":
            return False
        raise
    return any(t["Key"] == MANAGED_TAG and t["Value"] == "true" for t in tags)


def _bucket_objects(aws: Aws, region: str, bucket: str) -> int | None:
    s3 = aws.s3(region)
    try:
        tagging = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except AwsError as exc:
        if exc.code in ("404", "NoSuchBucket", "NoSuchTagSet"):
            return None
        raise
    if not any(t["Key"] == MANAGED_TAG and t["Value"] == "true" for t in tagging):
        return None
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        count += len(page.get("Contents", []))
    return count


def _job_definitions(aws: Aws, region: str) -> list[str]:
    arns = []
    pages = aws.batch(region).get_paginator("describe_job_definitions").paginate(status="ACTIVE")
    for page in pages:
        for jd in page.get("jobDefinitions", []):
            if str(jd["jobDefinitionName"]).startswith(names.JOB_DEFINITION_PREFIX) and (
                names.is_managed(jd.get("tags"))
            ):
                arns.append(str(jd["jobDefinitionArn"]))
    return arns


def plan_teardown(aws: Aws, region: str) -> TeardownPlan:
    """What teardown would remove in `region`, found with read-only calls."""
    batch = aws.batch(region)
    account = str(aws.sts(region).get_caller_identity()["Account"])
    plan = TeardownPlan(region=region, bucket=names.bucket_name(account, region))
    found_queues = {
        n: q for n, q in queues(batch, names.QUEUES).items() if names.is_managed(q.get("tags"))
    }
    plan.queues = sorted(found_queues)
    for queue in plan.queues:
        for status in ACTIVE_STATES:
            for page in batch.get_paginator("list_jobs").paginate(jobQueue=queue, jobStatus=status):
                plan.active_jobs += [
                    (str(s["jobId"]), str(s.get("jobName", "")), status)
                    for s in page.get("jobSummaryList", [])
                ]
    plan.environments = sorted(
        n
        for n, e in environments(batch, names.ENVIRONMENTS).items()
        if names.is_managed(e.get("tags"))
    )
    plan.job_definitions = _job_definitions(aws, region)
    plan.bucket_objects = _bucket_objects(aws, region, plan.bucket)
    try:
        vpc = default_vpc(aws.ec2(region), region)
    except AwsError:
        vpc = None
    if vpc is not None:
        group = find_group(aws, region, vpc)
        if group is not None and _group_managed(aws, region, group):
            plan.security_group = group
    plan.roles = [r for r in (names.INSTANCE_ROLE, names.JOB_ROLE) if _managed_iam(aws, region, r)]
    try:
        aws.iam(region).get_instance_profile(InstanceProfileName=names.INSTANCE_ROLE)
        plan.instance_profile = names.INSTANCE_ROLE in plan.roles
    except AwsError as exc:
        if exc.code != "NoSuchEntity":
            raise
    return plan


def _group_managed(aws: Aws, region: str, group: str) -> bool:
    found = aws.ec2(region).describe_security_groups(GroupIds=[group])["SecurityGroups"]
    tags = found[0].get("Tags", []) if found else []
    return any(t.get("Key") == MANAGED_TAG and t.get("Value") == "true" for t in tags)


def _gone(lookup: Callable[[], dict[str, Any]], name: str) -> Callable[[], bool]:
    return lambda: name not in lookup()


def _disabled(lookup: Callable[[], dict[str, Any]], name: str) -> Callable[[], bool]:
    def ready() -> bool:
        found = lookup().get(name)
        return found is None or (
            found.get("state") == "DISABLED" and found.get("status") != "UPDATING"
        )

    return ready


def execute_teardown(
    aws: Aws,
    plan: TeardownPlan,
    progress: Callable[[str], None],
    *,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Remove everything in the plan, in the order Batch, S3, EC2 and IAM allow."""
    region = plan.region
    batch = aws.batch(region)
    waits: dict[str, Any] = {"sleep": sleep} if sleep else {}
    for job_id, _, status in plan.active_jobs:
        progress(f"stopping job {job_id} ({status})")
        batch.terminate_job(jobId=job_id, reason="dlpick batch teardown")
    # Queues first: an environment still in a queue cannot be deleted.
    _disable_and_delete(
        "job queue",
        plan.queues,
        lambda: queues(batch, names.QUEUES),
        lambda name: batch.update_job_queue(jobQueue=name, state="DISABLED"),
        lambda name: batch.delete_job_queue(jobQueue=name),
        progress,
        waits,
    )
    _disable_and_delete(
        "compute environment",
        plan.environments,
        lambda: environments(batch, names.ENVIRONMENTS),
        lambda name: batch.update_compute_environment(computeEnvironment=name, state="DISABLED"),
        lambda name: batch.delete_compute_environment(computeEnvironment=name),
        progress,
        waits,
    )
    for arn in plan.job_definitions:
        batch.deregister_job_definition(jobDefinition=arn)
    if plan.job_definitions:
        progress(f"deregistered {len(plan.job_definitions)} job definition(s)")
    if plan.bucket_objects is not None:
        _empty_and_delete_bucket(aws, plan, progress)
    if plan.security_group:
        _delete_group(aws, plan, progress, waits)
    _delete_iam(aws, plan, progress)


def _disable_and_delete(
    kind: str,
    found: list[str],
    lookup: Callable[[], dict[str, Any]],
    disable: Callable[[str], object],
    delete: Callable[[str], object],
    progress: Callable[[str], None],
    waits: dict[str, Any],
) -> None:
    """Disable each, delete each once Batch has disabled it, and wait until all are gone."""
    for name in found:
        progress(f"disabling {kind} {name}")
        disable(name)
    for name in found:
        wait_until(f"{kind} {name} disabling", _disabled(lookup, name), **waits)
        progress(f"deleting {kind} {name}")
        delete(name)
    for name in found:
        wait_until(f"{kind} {name} going away", _gone(lookup, name), **waits)


def _empty_and_delete_bucket(aws: Aws, plan: TeardownPlan, progress: Callable[[str], None]) -> None:
    s3 = aws.s3(plan.region)
    progress(f"emptying and deleting s3://{plan.bucket}")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=plan.bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=plan.bucket, Delete={"Objects": keys, "Quiet": True})  # type: ignore[typeddict-item]
    s3.delete_bucket(Bucket=plan.bucket)


def _delete_group(
    aws: Aws, plan: TeardownPlan, progress: Callable[[str], None], waits: dict[str, Any]
) -> None:
    """The group is still in use until the environments' instances and ENIs are gone."""
    ec2 = aws.ec2(plan.region)
    group = plan.security_group
    assert group is not None
    progress(f"deleting security group {names.SECURITY_GROUP}")

    def deleted() -> bool:
        try:
            ec2.delete_security_group(GroupId=group)
        except AwsError as exc:
            if exc.code == "DependencyViolation":
                return False
            if exc.code == "InvalidGroup.NotFound":
                return True
            raise
        return True

    wait_until(f"security group {group} being free to delete", deleted, **waits)


def _delete_iam(aws: Aws, plan: TeardownPlan, progress: Callable[[str], None]) -> None:
    iam = aws.iam(plan.region)
    if plan.instance_profile:
        progress(f"deleting instance profile {names.INSTANCE_ROLE}")
        profile = iam.get_instance_profile(InstanceProfileName=names.INSTANCE_ROLE)
        for member in profile["InstanceProfile"].get("Roles", []):
            iam.remove_role_from_instance_profile(
                InstanceProfileName=names.INSTANCE_ROLE, RoleName=member["RoleName"]
            )
        iam.delete_instance_profile(InstanceProfileName=names.INSTANCE_ROLE)
    for role in plan.roles:
        progress(f"deleting role {role}")
        for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=role, PolicyArn=attached["PolicyArn"])
        for inline in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            iam.delete_role_policy(RoleName=role, PolicyName=inline)
        iam.delete_role(RoleName=role)
