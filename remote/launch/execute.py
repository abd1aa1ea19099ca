"""Launching an instance on a Deep Learning AMI, safely: executing a confirmed plan.

The plan (remote/launch/plan.py) was found with read-only calls and shown. Executing it
creates only what is missing (a key pair, a security group), each found by name next
time, and starts the instance with an idempotency token, so a retried launch never
starts a second instance; without capacity it moves on (remote/launch/failover.py).
Then it waits for the instance to run and sets its idle guard.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dlpick.core.errors import AwsError, LaunchError
from dlpick.remote.launch import guard
from dlpick.remote.launch.errors import explain, offered_elsewhere
from dlpick.remote.launch.failover import (
    CLI_DECLINE_HINT,
    Choose,
    PriceIn,
    catalog_price,
    start_instance,
)
from dlpick.remote.launch.idempotency import remember_launch
from dlpick.remote.launch.model import Attempt, LaunchPlan, LaunchResult
from dlpick.remote.launch.run_instances import (
    dry_run as dry_run,  # the CLI and the dialog call it here
)

if TYPE_CHECKING:
    from dlpick.core.aws import Aws


# -- plan and execute -----------------------------------------------------------


def _add_idle_alarm(
    aws: Aws, plan: LaunchPlan, instance_id: str, progress: Callable[[str], None]
) -> None:
    """The idle guard; a failure is reported, not fatal: the instance already runs."""
    req = plan.request
    assert req.idle_stop_minutes
    try:
        name = guard.create_idle_alarm(
            aws.cloudwatch(req.region),
            region=req.region,
            instance_id=instance_id,
            minutes=req.idle_stop_minutes,
            threshold_percent=plan.idle_threshold,
            terminate=req.spot,
            # CloudWatch's tag shape requires both keys; EC2's (plan.tags) leaves them optional.
            tags=[{"Key": t["Key"], "Value": t["Value"]} for t in plan.tags()],
        )
        progress(f"idle guard: alarm {name} ({plan.guard_action} when idle)")
    except AwsError as exc:
        progress(
            f"WARNING: could not create the idle alarm ({exc}); "
            f"{instance_id} runs without an idle guard"
        )


def execute(
    aws: Aws,
    plan: LaunchPlan,
    progress: Callable[[str], None],
    choose: Choose | None = None,
    price_in: PriceIn | None = None,
    decline_hint: str = CLI_DECLINE_HINT,
) -> LaunchResult:
    """Create what is missing, start the instance where there is capacity (the planned
    region's AZs, then a region `choose` accepts), and wait until it runs."""
    req = plan.request
    instance_id = plan.existing_instance
    attempts: list[Attempt] = []
    try:
        if instance_id is None:
            remember_launch(req, plan.client_token)
            prices = price_in or catalog_price(aws, req.instance_type, req.spot)
            started = start_instance(aws, plan, progress, prices, choose, decline_hint)
            instance_id, plan, attempts = started.instance_id, started.plan, started.attempts
            req = plan.request
        else:
            progress(f"this launch already started {instance_id}; not starting another")
        ec2 = aws.ec2(req.region)
        progress(f"waiting for {instance_id} to run")
        ec2.get_waiter("instance_running").wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )
        described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
            "Instances"
        ][0]
        if req.idle_stop_minutes and plan.existing_instance is None:
            _add_idle_alarm(aws, plan, instance_id, progress)
    except LaunchError:
        raise
    except AwsError as exc:
        raise explain(exc, req, lambda: offered_elsewhere(aws, req)) from None
    return LaunchResult(
        instance_id=instance_id,
        region=req.region,
        public_dns=str(described.get("PublicDnsName") or ""),
        public_ip=str(described.get("PublicIpAddress") or ""),
        login_user=plan.ami.login_user,
        key_path=plan.key_path,
        usd_hour=plan.usd_hour,
        already_running=plan.existing_instance is not None,
        spot=req.spot,
        attempts=attempts,
    )
