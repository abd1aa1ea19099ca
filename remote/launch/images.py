"""Which image a launch boots: the latest Deep Learning AMI, found through SSM.

AWS publishes the current DLAMI ids as public SSM parameters (the Neuron DLAMI for
Trainium and Inferentia under its own tree); an explicit `ami-...` skips the lookup.
Either way the image is checked against the instance's architecture, and its
root volume size and login user are read from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlpick.core.aws import paginate
from dlpick.core.errors import AwsError, InputError, LaunchError

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

    from dlpick.core.aws import Aws

OS_CHOICES = ("ubuntu-22.04", "ubuntu-24.04", "al2023")
DEFAULT_OS = "ubuntu-24.04"
NEURON_FAMILIES = ("trn", "inf")
# An AMI id: "ami-" and 8 (older) or 17 hex digits.
IMAGE_ID = re.compile(r"ami-(?:[0-9a-f]{8}|[0-9a-f]{17})")
# Codes of the LaunchErrors that mean "no image found", so each front end can say
# what to change in its own words (the hints here are the CLI's).
NO_DLAMI_FOR_FAMILY = "NoDlamiForFamily"
NO_PYTORCH_DLAMI = "NoPytorchDlami"
DLAMI_NOT_FOUND = "DlamiNotFound"
# Families no Deep Learning AMI supports.
NO_DLAMI = {"g4ad": "AMD Radeon GPUs", "dl2q": "Qualcomm Cloud AI 100", "dl1": "Habana Gaudi"}


@dataclass(frozen=True)
class Ami:
    """The image a launch boots, with what the launch needs to know of it."""

    image_id: str
    name: str
    parameter: str  # the SSM parameter it was found under, or "" for an explicit id
    root_device: str
    min_volume_gb: int
    login_user: str


def check_image_id(text: str, what: str = "image id") -> str:
    """`text` if it is an AMI id, else InputError naming `what` and what one looks like."""
    if IMAGE_ID.fullmatch(text):
        return text
    raise InputError(
        f"{what} {text!r} is not an AMI id", hint="an AMI id is ami- and 8 or 17 hex digits"
    )


# The images `--ami` names besides an id: the DLAMI flavours (pytorch-X.Y a version).
FLAVOURS = ("base", "pytorch", "pytorch-X.Y", "multi-framework")
_FLAVOUR = re.compile(r"base|pytorch|pytorch-\d+(?:\.\d+)*|multi-framework")


def check_ami_choice(text: str, what: str = "--ami") -> str:
    """A flavour of the DLAMI or an AMI id, as `--ami` takes them; InputError otherwise."""
    if text.startswith("ami-"):
        return check_image_id(text, what)
    if _FLAVOUR.fullmatch(text):
        return text
    raise InputError(
        f"{what} {text!r} is not an image dlpick knows",
        hint=f"use {', '.join(FLAVOURS)} or an AMI id (ami-...)",
    )


def neuron_family(instance_type: str) -> bool:
    """Whether the type runs the Neuron DLAMI (Trainium, Inferentia)."""
    return _neuron(instance_type.split(".", 1)[0])


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


def latest_pytorch_parameter(ssm: SSMClient, os_name: str, arch: str, family: str) -> str:
    """The newest PyTorch DLAMI parameter, found by listing the public parameter tree."""
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
            f"no PyTorch Deep Learning AMI for {os_name} ({arch}) in this region",
            hint="try --ami base",
            code=NO_PYTORCH_DLAMI,
        )
    return max(found, key=lambda vn: _version_key(vn[0]))[1]


def find_ami(aws: Aws, region: str, flavour: str, os_name: str, arch: str, family: str) -> Ami:
    """The latest DLAMI for a flavour, OS and architecture (Neuron DLAMI for trn/inf)."""
    ec2 = aws.ec2(region)
    parameter = ""
    if flavour.startswith("ami-"):
        image_id = check_image_id(flavour)
    else:
        if family in NO_DLAMI:
            raise LaunchError(
                f"no Deep Learning AMI supports {NO_DLAMI[family]} ({family})",
                hint="pass an image id with --ami ami-...",
                code=NO_DLAMI_FOR_FAMILY,
            )
        if os_name not in OS_CHOICES:
            raise LaunchError(f"unknown OS {os_name!r}; use one of {', '.join(OS_CHOICES)}")
        ssm = aws.ssm(region)
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
                    f"(SSM parameter {parameter})",
                    hint="try another --os or --ami",
                    code=DLAMI_NOT_FOUND,
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


def login_user_for_image(image_name: str | None) -> str:
    """The default login user of an AMI, from its name (DLAMI names say the OS)."""
    name = (image_name or "").lower()
    if "ubuntu" in name:
        return "ubuntu"
    if "debian" in name:
        return "admin"
    # Amazon Linux (2, 2023) and the DLAMIs built on it, and most other AWS images.
    return "ec2-user"
