"""The names of what `dlpick batch setup` creates, in one place.

Setup creates them, submit and jobs use them, teardown removes them: a name
spelled twice could drift apart and leave something billing.
"""

from __future__ import annotations

from dlpick.remote.tags import MANAGED_TAG, OWNER_TAG

SPOT_ENVIRONMENT = "dlpick-spot"
ON_DEMAND_ENVIRONMENT = "dlpick-on-demand"
# Tries the spot environment first, then on-demand.
SPOT_QUEUE = "dlpick-spot-first"
# On-demand only: multi-node jobs (Batch does not run them on spot) and --on-demand.
ON_DEMAND_QUEUE = "dlpick-on-demand"
QUEUES = (SPOT_QUEUE, ON_DEMAND_QUEUE)
ENVIRONMENTS = (SPOT_ENVIRONMENT, ON_DEMAND_ENVIRONMENT)
# The role (and instance profile of the same name) the compute hosts run as.
INSTANCE_ROLE = "dlpick-batch-instance"
INSTANCE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
# The role jobs run as: reads the code bucket, nothing else.
JOB_ROLE = "dlpick-batch-job"
JOB_POLICY_NAME = "dlpick-read-code"
# No inbound rule: jobs reach out (images, S3), nothing reaches in.
SECURITY_GROUP = "dlpick-batch"
# The Name tag of the hosts (set in the environments' compute resources).
HOST_NAME = "dlpick-batch"
# Job definitions are named this prefix plus a digest of their content.
JOB_DEFINITION_PREFIX = "dlpick-"
BATCH_SERVICE = "batch.amazonaws.com"


def bucket_name(account: str, region: str) -> str:
    """The code bucket: one per account and region (bucket names are global)."""
    return f"dlpick-batch-{account}-{region}"


def batch_tags(owner: str) -> dict[str, str]:
    """Tags on every Batch resource and bucket setup makes (Batch and S3 take a map)."""
    return {MANAGED_TAG: "true", OWNER_TAG: owner}


def is_managed(tags: dict[str, str] | None) -> bool:
    return bool(tags) and (tags or {}).get(MANAGED_TAG) == "true"
