"""Launching an instance on a Deep Learning AMI, safely.

The launch is planned first with read-only calls (specs, AMI, quota, key pair,
security group, price), so a plan can be shown and confirmed, and a quota that
would refuse the launch stops it before anything is created. Executing the plan
creates only what is missing (a key pair, a security group), each found by name
next time, and starts the instance with an idempotency token, so a retried launch
never starts a second instance.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dlpick.pricing.errors import AwsError, DataError, DlpickError
from dlpick.remote import guard
from dlpick.remote.quotas import QuotaCheck, check_quota
from dlpick.remote.tags import (
    IDLE_STOP_TAG,
    MANAGED_TAG,
    OWNER_TAG,
    SECURITY_GROUP,
    STOP_AFTER_TAG,
    TOKEN_TAG,
)
from dlpick.remote.target import login_user_for_image

DEFAULT_IDLE_STOP_MINUTES = 60
OS_CHOICES = ("ubuntu-22.04", "ubuntu-24.04", "al2023")
DEFAULT_OS = "ubuntu-24.04"
DEFAULT_VOLUME_GB = 200
NEURON_FAMILIES = ("trn", "inf")
# Families no Deep Learning AMI supports.
NO_DLAMI = {"g4ad": "AMD Radeon GPUs", "dl2q": "Qualcomm Cloud AI 100", "dl1": "Habana Gaudi"}


class LaunchError(AwsError):
    """A launch that cannot go ahead, worded with what to do next."""


@dataclass(frozen=True)
class Ami:
    image_id: str
    name: str
    parameter: str  # the SSM parameter it was found under, or "" for an explicit id
    root_device: str
    min_volume_gb: int
    login_user: str


@dataclass
class LaunchRequest:
    instance_type: str
    region: str
    spot: bool = False
    max_price: float | None = None
    ami: str = "base"  # base | pytorch | pytorch-X.Y | multi-framework | ami-...
    os: str = DEFAULT_OS
    key_name: str | None = None
    key_file: Path | None = None
    volume_gb: int = DEFAULT_VOLUME_GB
    ssh_cidr: str | None = None
    name: str | None = None
    new: bool = False  # start another instance even if an identical launch exists
    checkip_url: str = "https://checkip.amazonaws.com"
    idle_stop_minutes: int | None = DEFAULT_IDLE_STOP_MINUTES  # None: no idle alarm
    idle_threshold_percent: float = 5.0
    max_hours: float | None = None
    budget: float | None = None


@dataclass
class LaunchPlan:
    request: LaunchRequest
    vcpus: int
    arch: str
    ami: Ami
    key_name: str
    key_path: Path
    create_key: bool
    security_group_id: str | None  # None: to be created
    cidr: str
    quota: QuotaCheck
    usd_hour: float | None
    price_note: str
    client_token: str
    owner_arn: str
    existing_instance: str | None = None  # an instance this same launch already started
    deadline: guard.Deadline | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def idle_threshold(self) -> float:
        return guard.idle_cpu_threshold(self.vcpus, self.request.idle_threshold_percent)

    @property
    def guard_action(self) -> str:
        # A one-time spot instance cannot be stopped, only terminated.
        return "terminate" if self.request.spot else "stop"

    @property
    def name(self) -> str:
        return self.request.name or f"dlpick-{self.request.instance_type}"

    def describe(self) -> list[str]:
        """What will happen, line by line, for the confirmation."""
        r = self.request
        market = "spot (one-time, terminated on interruption)" if r.spot else "on-demand"
        price = f"${self.usd_hour:.4f}/h" if self.usd_hour is not None else "price unknown"
        lines = [
            f"instance      {r.instance_type} in {r.region}, {market}, {price} ({self.price_note})",
            f"name          {self.name}",
            f"image         {self.ami.name} ({self.ami.image_id})",
            f"disk          {max(r.volume_gb, self.ami.min_volume_gb)} GB gp3 root volume",
            f"quota         {self.quota.summary()}",
            "key pair      "
            + (
                f"create {self.key_name}, private key saved to {self.key_path}"
                if self.create_key
                else f"{self.key_name} ({self.key_path})"
            ),
            "security group "
            + (
                f"create {SECURITY_GROUP}: SSH (22/tcp) from {self.cidr} only"
                if self.security_group_id is None
                else f"{SECURITY_GROUP} ({self.security_group_id}): SSH from {self.cidr} only"
            ),
            f"tags          Name={self.name}, {MANAGED_TAG}=true, {OWNER_TAG}={self.owner_arn}",
        ]
        if r.spot and r.max_price is not None:
            lines.append(f"max price     ${r.max_price:.4f}/h")
        if r.idle_stop_minutes:
            lines.append(
                f"idle guard    {self.guard_action} after {r.idle_stop_minutes} min below "
                f"{self.idle_threshold:g}% CPU (CloudWatch alarm; --no-idle-stop to opt out)"
            )
        else:
            lines.append("idle guard    none (--no-idle-stop)")
        if self.deadline is not None:
            lines.append(
                f"time limit    {self.guard_action}s itself after {self.deadline.hours:.1f} h "
                f"({self.deadline.why})"
            )
        return lines + self.notes


@dataclass
class LaunchResult:
    instance_id: str
    region: str
    public_dns: str
    public_ip: str
    login_user: str
    key_path: Path
    usd_hour: float | None
    already_running: bool = False

    @property
    def ssh_command(self) -> str:
        host = self.public_dns or self.public_ip
        return f"ssh -i {self.key_path} {self.login_user}@{host}"


# -- AMIs ----------------------------------------------------------------------


def _neuron(family: str) -> bool:
    return family.startswith(NEURON_FAMILIES)


def _os_part(os_name: str) -> str:
    """The OS as DLAMI parameter names spell it."""
    return "amazon-linux-2023" if os_name == "al2023" else os_name


def dlami_parameter(flavour: str, os_name: str, arch: str, family: str) -> str:
    """The SSM public parameter naming the latest DLAMI of a flavour (version-free flavours)."""
    os_part = _os_part(os_name)
    if _neuron(family):
        # The Neuron DLAMI that plays the part of "base" is the multi-framework one.
        kind = "multi-framework" if flavour == "base" else flavour
        return f"/aws/service/neuron/dlami/{kind}/{os_part}/latest/image_id"
    root = f"/aws/service/deeplearning/ami/{arch}"
    if flavour == "base":
        return f"{root}/base-oss-nvidia-driver-gpu-{os_part}/latest/ami-id"
    if re.fullmatch(r"pytorch-\d+(\.\d+)*", flavour):
        return f"{root}/oss-nvidia-driver-gpu-{flavour}-{os_part}/latest/ami-id"
    raise LaunchError(
        f"unknown AMI flavour {flavour!r} (use base, pytorch, pytorch-X.Y or ami-...)"
    )


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def latest_pytorch_parameter(ssm: Any, os_name: str, arch: str, family: str) -> str:
    """The newest PyTorch DLAMI parameter, found by listing the public parameter tree."""
    from dlpick.pricing.aws import paginate

    os_part = _os_part(os_name)
    if _neuron(family):
        root = "/aws/service/neuron/dlami"
        pattern = re.compile(
            rf"^{root}/pytorch-(\d+(?:\.\d+)*)/{re.escape(os_part)}/latest/image_id$"
        )
    else:
        root = f"/aws/service/deeplearning/ami/{arch}"
        pattern = re.compile(
            rf"^{root}/oss-nvidia-driver-gpu-pytorch-(\d+(?:\.\d+)*)-{re.escape(os_part)}"
            r"/latest/ami-id$"
        )
    names = [
        p["Name"]
        for p in paginate(ssm.get_parameters_by_path, "Parameters", Path=root, Recursive=True)
    ]
    found = [(m.group(1), n) for n in names if (m := pattern.match(n))]
    if not found:
        raise LaunchError(
            f"no PyTorch Deep Learning AMI for {os_name} ({arch}) in this region; try --ami base"
        )
    return max(found, key=lambda vn: _version_key(vn[0]))[1]


def find_ami(aws: Any, region: str, flavour: str, os_name: str, arch: str, family: str) -> Ami:
    """The latest DLAMI for a flavour, OS and architecture (Neuron DLAMI for trn/inf)."""
    ec2 = aws.client("ec2", region)
    parameter = ""
    if flavour.startswith("ami-"):
        image_id = flavour
    else:
        if family in NO_DLAMI:
            raise LaunchError(
                f"no Deep Learning AMI supports {NO_DLAMI[family]} ({family}); "
                "pass an image id with --ami ami-..."
            )
        if os_name not in OS_CHOICES:
            raise LaunchError(f"unknown OS {os_name!r}; use one of {', '.join(OS_CHOICES)}")
        ssm = aws.client("ssm", region)
        if flavour == "pytorch":
            parameter = latest_pytorch_parameter(ssm, os_name, arch, family)
        else:
            parameter = dlami_parameter(flavour, os_name, arch, family)
        try:
            image_id = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
        except AwsError as err:
            if err.code == "ParameterNotFound":
                raise LaunchError(
                    f"no {flavour} Deep Learning AMI for {os_name} ({arch}) in {region} "
                    f"(SSM parameter {parameter}); try another --os or --ami"
                ) from None
            raise err.doing("looking up the Deep Learning AMI") from None
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except AwsError as exc:
        raise exc.doing(f"looking up image {image_id}") from None
    if not images:
        raise LaunchError(f"image {image_id} not found in {region}")
    image = images[0]
    if image.get("Architecture") and image["Architecture"] != arch:
        raise LaunchError(f"image {image_id} is {image['Architecture']}, but the type needs {arch}")
    root = image.get("RootDeviceName") or "/dev/sda1"
    size = 0
    for mapping in image.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == root:
            size = int((mapping.get("Ebs") or {}).get("VolumeSize") or 0)
    name = str(image.get("Name") or image_id)
    # The same rule `dlpick run` and `dlpick ssh` use, so the printed ssh command agrees.
    return Ami(image_id, name, parameter, root, size, login_user_for_image(name))


# -- the caller's address --------------------------------------------------------


def caller_cidr(url: str, timeout: float = 5.0) -> str:
    """The caller's public IP as a /32 (or /128), asked of a check-IP URL."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            text = answer.read(200).decode("ascii", "replace").strip()
    except OSError as exc:
        raise LaunchError(
            f"cannot find your public IP from {url} ({exc}); pass --ssh-cidr x.x.x.x/32"
        ) from None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise LaunchError(f"{url} did not answer with an IP address; pass --ssh-cidr") from None
    return f"{address}/{address.max_prefixlen}"


def check_cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise LaunchError(f"--ssh-cidr {text!r} is not a CIDR range like 203.0.113.7/32") from None


# -- key pair -------------------------------------------------------------------


def default_key_path(key_name: str) -> Path:
    return Path.home() / ".ssh" / f"{key_name}.pem"


def write_private_key(path: Path, material: str) -> None:
    """Write a private key atomically at mode 0600; never replace an existing file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise DataError(f"cannot write the private key {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(material if material.endswith("\n") else material + "\n")
            f.flush()
            os.fsync(f.fileno())
        # link() fails if the target exists: the no-overwrite check and the write are one step.
        os.link(tmp, path)
    except FileExistsError:
        raise LaunchError(f"{path} already exists; dlpick never overwrites a private key") from None
    except OSError as exc:
        raise DataError(f"cannot write the private key {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def public_key_of(path: Path) -> str:
    """The OpenSSH public key of a local private key (to import it as a key pair)."""
    from cryptography.hazmat.primitives import serialization

    key = (
        serialization.load_ssh_private_key(path.read_bytes(), password=None)
        if (b"OPENSSH" in path.read_bytes()[:64])
        else serialization.load_pem_private_key(path.read_bytes(), password=None)
    )
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def key_pair_exists(ec2: Any, name: str) -> bool:
    try:
        ec2.describe_key_pairs(KeyNames=[name])
        return True
    except AwsError as exc:
        if exc.code == "InvalidKeyPair.NotFound":
            return False
        raise


# -- security group -------------------------------------------------------------


def default_vpc(ec2: Any, region: str) -> str:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise LaunchError(
            f"{region} has no default VPC; create one with `aws ec2 create-default-vpc "
            f"--region {region}`"
        )
    return str(vpcs[0]["VpcId"])


def find_security_group(ec2: Any, vpc_id: str) -> dict[str, Any] | None:
    groups = ec2.describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [SECURITY_GROUP]},
            {"Name": "vpc-id", "Values": [vpc_id]},
        ]
    )["SecurityGroups"]
    return groups[0] if groups else None


def ssh_rules(group: dict[str, Any]) -> list[str]:
    """The CIDRs the group lets in on port 22."""
    cidrs = []
    for perm in group.get("IpPermissions", []):
        if (
            perm.get("IpProtocol") == "tcp"
            and perm.get("FromPort") == 22
            and perm.get("ToPort") == 22
        ):
            cidrs += [r["CidrIp"] for r in perm.get("IpRanges", [])]
            cidrs += [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])]
    return cidrs


def ensure_security_group(ec2: Any, vpc_id: str, cidr: str, tags: list[dict[str, str]]) -> str:
    """dlpick's SSH group, created if missing, letting SSH in from `cidr` only."""
    group = find_security_group(ec2, vpc_id)
    if group is None:
        group_id = ec2.create_security_group(
            GroupName=SECURITY_GROUP,
            Description="SSH to dlpick instances from the launching user's address only",
            VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )["GroupId"]
        group = {"GroupId": group_id, "IpPermissions": []}
    group_id = str(group["GroupId"])
    current = ssh_rules(group)
    stale = [c for c in current if c != cidr]
    if stale:
        v4 = [{"CidrIp": c} for c in stale if ":" not in c]
        v6 = [{"CidrIpv6": c} for c in stale if ":" in c]
        ec2.revoke_security_group_ingress(
            GroupId=group_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": v4,
                    "Ipv6Ranges": v6,
                }
            ],
        )
    if cidr not in current:
        ranges = (
            {"Ipv6Ranges": [{"CidrIpv6": cidr, "Description": "dlpick: your address"}]}
            if ":" in cidr
            else {"IpRanges": [{"CidrIp": cidr, "Description": "dlpick: your address"}]}
        )
        ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, **ranges}],
        )
    return group_id


# -- idempotency ----------------------------------------------------------------


def _launches_file() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("dlpick", appauthor=False)) / "launches.json"


def _request_key(req: LaunchRequest) -> str:
    fields = {
        "type": req.instance_type,
        "region": req.region,
        "spot": req.spot,
        "max_price": req.max_price,
        "ami": req.ami,
        "os": req.os,
        "key": req.key_name,
        "volume": req.volume_gb,
        "cidr": req.ssh_cidr,
        "name": req.name,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def client_token(req: LaunchRequest, generation: int) -> str:
    return f"dlpick-{_request_key(req)}-{generation}"


def _generation(req: LaunchRequest) -> int:
    try:
        data = json.loads(_launches_file().read_text("utf-8"))
    except (OSError, ValueError):
        return 0
    return int(data.get(_request_key(req), 0))


def _set_generation(req: LaunchRequest, generation: int) -> None:
    path = _launches_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        data = {}
    data[_request_key(req)] = generation
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1), "utf-8")
    tmp.replace(path)


def instances_with_token(ec2: Any, token: str) -> list[dict[str, Any]]:
    reservations = ec2.describe_instances(
        Filters=[{"Name": f"tag:{TOKEN_TAG}", "Values": [token]}]
    )["Reservations"]
    return [i for r in reservations for i in r.get("Instances", [])]


def _token_for(ec2: Any, req: LaunchRequest) -> tuple[str, str | None]:
    """The launch's idempotency token, and the live instance it already started, if any.

    A token names one intended instance. A repeated `dlpick launch` with the same
    arguments reuses it, so it finds the instance instead of starting another;
    `--new` or a terminated instance moves on to a fresh token.
    """
    generation = _generation(req) + (1 if req.new else 0)
    while True:
        token = client_token(req, generation)
        found = instances_with_token(ec2, token)
        live = [i for i in found if i["State"]["Name"] not in ("shutting-down", "terminated")]
        if live:
            return token, str(live[0]["InstanceId"])
        if not found:
            return token, None
        generation += 1  # that instance is gone; AWS would answer the old token with it


# -- errors a user meets --------------------------------------------------------


def explain(
    err: AwsError, req: LaunchRequest, suggest: Callable[[], str] | None = None
) -> AwsError:
    """A launch failure as one line that says what to do next."""
    code = err.code
    where = suggest() if suggest else ""
    messages = {
        "VcpuLimitExceeded": (
            f"your vCPU quota for {req.instance_type} in {req.region} is used up; "
            f"see `dlpick quotas --region {req.region}` and request more"
        ),
        "InsufficientInstanceCapacity": (
            f"AWS has no {req.instance_type} capacity in {req.region} right now; "
            f"retry later or try another AZ or region{where}"
        ),
        "Unsupported": (
            f"{req.instance_type} is not supported in the chosen AZ of {req.region}{where}"
        ),
        "InvalidInstanceType": f"{req.instance_type} is not an EC2 instance type in {req.region}",
        "SpotMaxPriceTooLow": (
            "your --max-price is below the current spot price; raise it or leave it out "
            "to pay the spot price (capped at on-demand)"
        ),
        "MaxSpotInstanceCountExceeded": (
            f"too many spot requests in {req.region}; cancel open spot requests or launch on-demand"
        ),
        "UnauthorizedOperation": (
            "your AWS identity may not launch instances (ec2:RunInstances and friends); "
            "ask your administrator for the permission"
        ),
        "OptInRequired": (
            f"{req.region} (or this instance type) is not enabled for your account; enable "
            "the region in the AWS console's account settings"
        ),
        "InvalidKeyPair.NotFound": (
            f"key pair {req.key_name!r} does not exist in {req.region}; leave out --key-name "
            "and dlpick creates one"
        ),
    }
    if code in messages:
        return LaunchError(messages[code], code=code)
    return err.doing("launch failed")


def offered_elsewhere(aws: Any, req: LaunchRequest) -> str:
    """', offered in: us-east-1a, us-east-1b; other regions: ...' for error messages."""
    parts = []
    try:
        ec2 = aws.client("ec2", req.region)
        offers = ec2.describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [req.instance_type]}],
        )["InstanceTypeOfferings"]
        zones = sorted(o["Location"] for o in offers)
        if zones:
            parts.append("AZs with it: " + ", ".join(zones))
    except AwsError:  # a hint must never hide the real error
        pass
    try:
        from dlpick.pricing.snapshot import bundled

        regions = sorted(
            r
            for r, snap in bundled().regions.items()
            if req.instance_type in snap.instance_types and r != req.region
        )
        if regions:
            parts.append(
                "other regions: " + ", ".join(regions[:6]) + ("..." if len(regions) > 6 else "")
            )
    except DlpickError:
        pass
    return ("; " + "; ".join(parts)) if parts else ""


# -- plan and execute -----------------------------------------------------------


def _add_idle_alarm(
    aws: Any, plan: LaunchPlan, instance_id: str, progress: Callable[[str], None]
) -> None:
    """The idle guard; a failure is reported, not fatal: the instance already runs."""
    req = plan.request
    assert req.idle_stop_minutes
    try:
        name = guard.create_idle_alarm(
            aws.client("cloudwatch", req.region),
            region=req.region,
            instance_id=instance_id,
            minutes=req.idle_stop_minutes,
            threshold_percent=plan.idle_threshold,
            terminate=req.spot,
            tags=_tags(plan),
        )
        progress(f"idle guard: alarm {name} ({plan.guard_action} when idle)")
    except AwsError as exc:
        progress(
            f"WARNING: could not create the idle alarm ({exc}); "
            f"{instance_id} runs without an idle guard"
        )


def plan_launch(
    aws: Any, req: LaunchRequest, price: Callable[[], tuple[float | None, str]]
) -> LaunchPlan:
    """Everything a launch will do, found with read-only calls."""
    ec2 = aws.client("ec2", req.region)
    try:
        types = ec2.describe_instance_types(InstanceTypes=[req.instance_type])["InstanceTypes"]
    except AwsError as exc:
        raise explain(exc, req) from None
    if not types:
        raise LaunchError(f"{req.instance_type} is not an EC2 instance type in {req.region}")
    spec = types[0]
    vcpus = int(spec["VCpuInfo"]["DefaultVCpus"])
    arch = "arm64" if "arm64" in spec["ProcessorInfo"]["SupportedArchitectures"] else "x86_64"
    offered = ec2.describe_instance_type_offerings(
        LocationType="region",
        Filters=[{"Name": "instance-type", "Values": [req.instance_type]}],
    )["InstanceTypeOfferings"]
    if not offered:
        raise LaunchError(
            f"{req.instance_type} is not offered in {req.region}{offered_elsewhere(aws, req)}",
            code="Unsupported",
        )
    if req.spot and "spot" not in spec.get("SupportedUsageClasses", ["spot"]):
        raise LaunchError(f"{req.instance_type} cannot run as spot; launch it on-demand")
    quota = check_quota(aws, req.region, req.instance_type, vcpus, spot=req.spot)
    family = req.instance_type.split(".", 1)[0]
    ami = find_ami(aws, req.region, req.ami, req.os, arch, family)
    cidr = check_cidr(req.ssh_cidr) if req.ssh_cidr else caller_cidr(req.checkip_url)
    notes = []
    if cidr in ("0.0.0.0/0", "::/0"):
        notes.append("WARNING       SSH will be open to the whole internet (--ssh-cidr)")
    key_name = req.key_name or f"dlpick-{req.region}"
    key_path = req.key_file or default_key_path(key_name)
    exists = key_pair_exists(ec2, key_name)
    if req.key_name and not exists:
        raise explain(AwsError("no such key pair", code="InvalidKeyPair.NotFound"), req)
    if req.key_name and not key_path.exists():
        raise LaunchError(
            f"no private key for key pair {key_name} at {key_path}; pass --key-file PATH"
        )
    create_key = not exists
    if exists and not key_path.exists():
        raise LaunchError(
            f"key pair {key_name} exists in {req.region} but its private key {key_path} is "
            f"missing; pass --key-name/--key-file, or delete the key pair to let dlpick make "
            "a new one"
        )
    if create_key and key_path.exists():
        notes.append(f"key pair      {key_path} exists: its public key is imported as {key_name}")
    vpc = default_vpc(ec2, req.region)
    group = find_security_group(ec2, vpc)
    owner = aws.client("sts", req.region).get_caller_identity()["Arn"]
    token, existing = _token_for(ec2, req)
    usd, note = price()
    try:
        limit = guard.deadline(req.max_hours, req.budget, usd)
    except ValueError as exc:
        raise LaunchError(str(exc)) from None
    return LaunchPlan(
        request=req,
        vcpus=vcpus,
        arch=arch,
        ami=ami,
        key_name=key_name,
        key_path=key_path,
        create_key=create_key,
        security_group_id=group["GroupId"] if group else None,
        cidr=cidr,
        quota=quota,
        usd_hour=usd,
        price_note=note,
        client_token=token,
        owner_arn=str(owner),
        existing_instance=existing,
        deadline=limit,
        notes=notes,
    )


def quota_refusal(plan: LaunchPlan) -> LaunchError | None:
    """The refusal to print when the quota is known to be too small."""
    check = plan.quota
    if check.verdict != "short" or check.quota is None:
        return None
    r = plan.request
    return LaunchError(
        f"{check.summary()}; not launching. Ask AWS for more: dlpick quotas request "
        f"{check.quota.code} {check.request_value} --region {r.region}",
        code="QuotaShort",
    )


def _tags(plan: LaunchPlan, *extra: tuple[str, str]) -> list[dict[str, str]]:
    pairs = [("Name", plan.name), (MANAGED_TAG, "true"), (OWNER_TAG, plan.owner_arn), *extra]
    return [{"Key": k, "Value": v} for k, v in pairs]


def run_arguments(
    plan: LaunchPlan, security_group_id: str | None, now: datetime | None = None
) -> dict[str, Any]:
    r = plan.request
    guard_tags: list[tuple[str, str]] = []
    if r.idle_stop_minutes:
        guard_tags.append((IDLE_STOP_TAG, str(r.idle_stop_minutes)))
    if plan.deadline is not None:
        stop_at = plan.deadline.at(now or datetime.now(UTC))
        guard_tags.append((STOP_AFTER_TAG, stop_at.strftime("%Y-%m-%dT%H:%M:%SZ")))
    args: dict[str, Any] = {
        "ImageId": plan.ami.image_id,
        "InstanceType": r.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "KeyName": plan.key_name,
        "ClientToken": plan.client_token,
        "BlockDeviceMappings": [
            {
                "DeviceName": plan.ami.root_device,
                "Ebs": {
                    "VolumeSize": max(r.volume_gb, plan.ami.min_volume_gb),
                    "VolumeType": "gp3",
                    "DeleteOnTermination": True,
                },
            }
        ],
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "TagSpecifications": [
            {
                "ResourceType": "instance",
                "Tags": _tags(plan, (TOKEN_TAG, plan.client_token), *guard_tags),
            },
            {"ResourceType": "volume", "Tags": _tags(plan)},
        ],
    }
    if security_group_id:
        args["SecurityGroupIds"] = [security_group_id]
    if plan.deadline is not None:
        args["UserData"] = guard.self_stop_user_data(plan.deadline)
        args["InstanceInitiatedShutdownBehavior"] = plan.guard_action
    if r.spot:
        options: dict[str, Any] = {
            "SpotInstanceType": "one-time",
            "InstanceInterruptionBehavior": "terminate",
        }
        if r.max_price is not None:
            options["MaxPrice"] = f"{r.max_price:.5f}"
        args["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": options}
    return args


def dry_run(aws: Any, plan: LaunchPlan) -> None:
    """EC2's DryRun: do we have permission? Creates nothing."""
    ec2 = aws.client("ec2", plan.request.region)
    args = run_arguments(plan, plan.security_group_id)
    args.pop("ClientToken")
    if plan.create_key:
        args.pop("KeyName")
    try:
        ec2.run_instances(DryRun=True, **args)
    except AwsError as exc:
        if exc.code == "DryRunOperation":
            return
        raise explain(exc, plan.request) from None
    raise LaunchError("EC2 did not answer the dry run as expected; nothing was created")


def execute(aws: Any, plan: LaunchPlan, progress: Callable[[str], None]) -> LaunchResult:
    """Create what is missing, start the instance, and wait until it runs."""
    req = plan.request
    ec2 = aws.client("ec2", req.region)
    instance_id = plan.existing_instance
    try:
        if instance_id is None:
            if plan.create_key:
                if plan.key_path.exists():
                    progress(f"importing {plan.key_path} as key pair {plan.key_name}")
                    ec2.import_key_pair(
                        KeyName=plan.key_name,
                        PublicKeyMaterial=public_key_of(plan.key_path).encode(),
                        TagSpecifications=[{"ResourceType": "key-pair", "Tags": _tags(plan)}],
                    )
                else:
                    progress(f"creating key pair {plan.key_name}")
                    made = ec2.create_key_pair(
                        KeyName=plan.key_name,
                        KeyType="ed25519",
                        KeyFormat="pem",
                        TagSpecifications=[{"ResourceType": "key-pair", "Tags": _tags(plan)}],
                    )
                    write_private_key(plan.key_path, made["KeyMaterial"])
            progress(f"allowing SSH from {plan.cidr} in {SECURITY_GROUP}")
            group_id = ensure_security_group(
                ec2, default_vpc(ec2, req.region), plan.cidr, _tags(plan)
            )
            _set_generation(req, int(plan.client_token.rsplit("-", 1)[1]))
            progress(f"starting {req.instance_type}")
            answer = ec2.run_instances(**run_arguments(plan, group_id))
            instance_id = str(answer["Instances"][0]["InstanceId"])
        else:
            progress(f"this launch already started {instance_id}; not starting another")
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
    )
