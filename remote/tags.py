"""The names dlpick marks what it creates on AWS with, in one place.

Launch writes them; the fleet view, stop, terminate and the idle checks read them
back. A name spelled twice could drift apart and silently stop matching.
"""

from __future__ import annotations

# Tag keys on instances, volumes, key pairs, security groups and alarms.
MANAGED_TAG = "dlpick:managed"  # "true" on everything dlpick created
OWNER_TAG = "dlpick:owner"  # the ARN of the identity that launched it
TOKEN_TAG = "dlpick:client-token"  # the launch's idempotency token
STOP_AFTER_TAG = "dlpick:stop-after"  # when the self-stop deadline passes (UTC)
IDLE_STOP_TAG = "dlpick:idle-stop-minutes"  # the idle alarm's window
# Batch's own tag on the hosts of a managed compute environment: its name (or ARN).
BATCH_ENVIRONMENT_TAG = "aws:batch:compute-environment"

# The security group that lets SSH in from the launching user's address only.
SECURITY_GROUP = "dlpick-ssh"

# Idle alarms are named this prefix plus the instance id.
IDLE_ALARM_PREFIX = "dlpick-idle-"
