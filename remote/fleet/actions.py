"""Stopping and terminating instances, and cleaning up what dlpick made for them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dlpick.core.errors import AwsError, InputError
from dlpick.remote.fleet.scan import Instance, instance_from_api
from dlpick.remote.launch.access import default_key_path
from dlpick.remote.launch.guard import alarm_name
from dlpick.remote.tags import MANAGED_TAG, SECURITY_GROUP

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

    from dlpick.core.aws import Aws


def find_instances(
    aws: Aws, region: str, instance_ids: list[str]
) -> list[tuple[Instance, InstanceTypeDef]]:
    """The instances (and their raw descriptions) named by id in a region."""
    ec2 = aws.ec2(region)
    try:
        reservations = ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
    except AwsError as err:
        if err.code.startswith("InvalidInstanceID"):
            raise InputError(
                f"no instance {', '.join(instance_ids)} in {region}",
                hint="is it in another region? pass --region",
            ) from None
        raise err.doing(f"looking up {', '.join(instance_ids)}") from None
    return [(instance_from_api(raw, region), raw) for r in reservations for raw in r["Instances"]]


def check_managed(instances: list[Instance], allow_any: bool) -> None:
    """Refuse to touch instances dlpick did not launch unless asked explicitly."""
    foreign = [i.instance_id for i in instances if not i.managed]
    if foreign and not allow_any:
        raise InputError(
            f"{', '.join(foreign)} not launched by dlpick (no {MANAGED_TAG} tag); "
            "pass --any to act on it anyway"
        )


# States in which a stop or a terminate has nothing left to do, and how to say so.
_ALREADY = {
    "stop": {
        "stopped": "is already stopped",
        "stopping": "is already stopping",
        "shutting-down": "is terminating: there is nothing to stop",
        "terminated": "is terminated: there is nothing to stop",
    },
    "terminate": {
        "shutting-down": "is already terminating",
        "terminated": "is already terminated",
    },
}


def already_done(
    verb: str, found: list[tuple[Instance, InstanceTypeDef]]
) -> tuple[list[tuple[Instance, InstanceTypeDef]], list[tuple[Instance, InstanceTypeDef]]]:
    """Split the instances into those `verb` ('stop' or 'terminate') still has to act
    on and those it has nothing left to do for."""
    todo = [(i, raw) for i, raw in found if i.state not in _ALREADY[verb]]
    done = [(i, raw) for i, raw in found if i.state in _ALREADY[verb]]
    return todo, done


def already_text(verb: str, inst: Instance) -> str:
    """'i-0abc is already terminated': why `verb` leaves the instance as it is."""
    return f"{inst.instance_id} {_ALREADY[verb][inst.state]}"


@dataclass
class Leftovers:
    """What still exists (and may still bill) after a terminate."""

    volumes: list[str] = field(default_factory=list)  # kept: DeleteOnTermination false
    key_pairs: list[str] = field(default_factory=list)  # dlpick's, no longer used
    security_groups: list[str] = field(default_factory=list)  # dlpick's, no longer used
    alarms: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.volumes:
            out.append(f"volumes kept after termination (still billed): {', '.join(self.volumes)}")
        if self.key_pairs:
            out.append(f"key pairs dlpick made, now unused: {', '.join(self.key_pairs)}")
        if self.security_groups:
            out.append(
                f"security groups dlpick made, now unused: {', '.join(self.security_groups)}"
            )
        return out

    @property
    def cleanable(self) -> bool:
        return bool(self.key_pairs or self.security_groups)


def stop(aws: Aws, region: str, instance_ids: list[str]) -> None:
    aws.ec2(region).stop_instances(InstanceIds=instance_ids)


def terminate(
    aws: Aws,
    region: str,
    found: list[tuple[Instance, InstanceTypeDef]],
    gone: Sequence[tuple[Instance, InstanceTypeDef]] = (),
) -> Leftovers:
    """Terminate `found`, delete their idle alarms, and report what remains of them and
    of the `gone` ones, already terminated."""
    ec2 = aws.ec2(region)
    if found:
        ec2.terminate_instances(InstanceIds=[inst.instance_id for inst, _ in found])
    found = [*found, *gone]
    ids = [inst.instance_id for inst, _ in found]
    left = Leftovers()
    for _, raw in found:
        for mapping in raw.get("BlockDeviceMappings", []):
            ebs = mapping.get("Ebs") or {}
            if ebs.get("VolumeId") and not ebs.get("DeleteOnTermination", True):
                left.volumes.append(str(ebs["VolumeId"]))
    alarms = [alarm_name(i) for i in ids]
    try:
        aws.cloudwatch(region).delete_alarms(AlarmNames=alarms)
    except AwsError:  # an alarm that is already gone needs no cleaning
        pass
    still_live = [
        i
        for r in ec2.describe_instances(
            Filters=[
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"],
                }
            ]
        )["Reservations"]
        for i in r["Instances"]
        if i["InstanceId"] not in ids
    ]
    used_keys = {i.get("KeyName") for i in still_live}
    used_groups = {g["GroupId"] for i in still_live for g in i.get("SecurityGroups", [])}
    for _, raw in found:
        key = raw.get("KeyName")
        if key and key not in used_keys and key not in left.key_pairs and _is_managed_key(ec2, key):
            left.key_pairs.append(str(key))
        for group in raw.get("SecurityGroups", []):
            if (
                group.get("GroupName") == SECURITY_GROUP
                and group["GroupId"] not in used_groups
                and group["GroupId"] not in left.security_groups
            ):
                left.security_groups.append(str(group["GroupId"]))
    return left


def _is_managed_key(ec2: EC2Client, key_name: str) -> bool:
    try:
        pairs = ec2.describe_key_pairs(KeyNames=[key_name])["KeyPairs"]
    except AwsError:
        return False
    return any(
        t.get("Key") == MANAGED_TAG and t.get("Value") == "true"
        for p in pairs
        for t in p.get("Tags", [])
    )


def cleanup_items(left: Leftovers) -> list[str]:
    """What `clean_up` deletes, one line each, for a confirmation."""

    def shown(path: Path) -> str:  # ~/.ssh/NAME.pem, as the user knows it
        home = Path.home()
        return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)

    return [
        *(
            f"key pair {key} (its private key file {shown(default_key_path(key))} stays)"
            for key in left.key_pairs
        ),
        *(f"security group {group} ({SECURITY_GROUP})" for group in left.security_groups),
    ]


def wait_terminated(aws: Aws, region: str, instance_ids: list[str]) -> None:
    """Wait until the instances are terminated: until then they hold their security group."""
    aws.ec2(region).get_waiter("instance_terminated").wait(
        InstanceIds=instance_ids, WaiterConfig={"Delay": 5, "MaxAttempts": 60}
    )


def clean_up(
    aws: Aws, region: str, left: Leftovers, progress: Callable[[str], None] | None = None
) -> list[str]:
    """Delete the unused key pairs and security groups dlpick made; returns what was done.

    A security group cannot be deleted while a terminating instance still holds it,
    so that failure is reported and the group is left for the next clean-up.
    """
    ec2 = aws.ec2(region)
    done = []
    say = progress or (lambda _text: None)
    for key in left.key_pairs:
        say(f"deleting key pair {key}")
        ec2.delete_key_pair(KeyName=key)
        done.append(f"deleted key pair {key} (the private key file stays in ~/.ssh)")
    for group in left.security_groups:
        say(f"deleting security group {group}")
        try:
            ec2.delete_security_group(GroupId=group)
            done.append(f"deleted security group {group}")
        except AwsError as exc:
            done.append(f"kept security group {group}: {exc}")
    return done
