"""Who may reach a launched instance: the caller's address, the SSH group, the key pair.

SSH is opened to the caller's own public IP (a /32) unless a CIDR is given, in
one security group dlpick finds by name and keeps current. The private key of a
key pair dlpick creates is written once, at mode 0600, and never overwritten.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dlpick.core.errors import AwsError, DataError, InputError, LaunchError, failure_reason
from dlpick.remote.tags import SECURITY_GROUP

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import (
        IpPermissionTypeDef,
        IpRangeTypeDef,
        Ipv6RangeTypeDef,
        SecurityGroupTypeDef,
        TagSpecificationTypeDef,
        TagTypeDef,
    )

# -- the caller's address --------------------------------------------------------


def caller_cidr(url: str, timeout: float = 5.0) -> str:
    """The caller's public IP as a /32 (or /128), asked of a check-IP URL."""
    import urllib.request  # with its HTTP and email modules, only when launching

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            text = answer.read(200).decode("ascii", "replace").strip()
    except OSError as exc:
        raise LaunchError(
            f"cannot find your public IP from {url} ({failure_reason(exc)}); "
            "pass --ssh-cidr x.x.x.x/32"
        ) from None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise LaunchError(f"{url} did not answer with an IP address; pass --ssh-cidr") from None
    return f"{address}/{address.max_prefixlen}"


def check_cidr(text: str, field: str = "--ssh-cidr") -> str:
    """A CIDR the user gave, normalised (203.0.113.7 -> 203.0.113.7/32); the InputError
    names `field`, the CLI's flag or the dialog's field."""
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise InputError(f"{field} {text!r} is not a CIDR range like 203.0.113.7/32") from None


def wide_cidr_warning(cidr: str, field: str = "--ssh-cidr") -> str | None:
    """The warning for an SSH range open to everyone (0.0.0.0/0, ::/0), naming `field`;
    None for a narrower one."""
    if ipaddress.ip_network(cidr, strict=False).prefixlen:
        return None
    return f"SSH will be open to the whole internet ({field})"


# -- key pair -------------------------------------------------------------------


def default_key_path(key_name: str) -> Path:
    """Where dlpick keeps the private key of a key pair it made: ~/.ssh/NAME.pem."""
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


def key_pair_exists(ec2: EC2Client, name: str) -> bool:
    """Whether the region has a key pair of this name."""
    try:
        ec2.describe_key_pairs(KeyNames=[name])
        return True
    except AwsError as exc:
        if exc.code == "InvalidKeyPair.NotFound":
            return False
        raise


def make_key_pair(
    ec2: EC2Client,
    key_name: str,
    key_path: Path,
    tags: Sequence[TagTypeDef],
    progress: Callable[[str], None],
) -> None:
    """Import the key at `key_path` as a key pair, or create one and save its private key there."""
    spec: list[TagSpecificationTypeDef] = [{"ResourceType": "key-pair", "Tags": tags}]
    if key_path.exists():
        progress(f"importing {key_path} as key pair {key_name}")
        ec2.import_key_pair(
            KeyName=key_name,
            PublicKeyMaterial=public_key_of(key_path).encode(),
            TagSpecifications=spec,
        )
    else:
        progress(f"creating key pair {key_name}")
        made = ec2.create_key_pair(
            KeyName=key_name, KeyType="ed25519", KeyFormat="pem", TagSpecifications=spec
        )
        write_private_key(key_path, made["KeyMaterial"])


# -- security group -------------------------------------------------------------


def default_vpc(ec2: EC2Client, region: str) -> str:
    """The region's default VPC, where dlpick launches."""
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise LaunchError(
            f"{region} has no default VPC; create one with `aws ec2 create-default-vpc "
            f"--region {region}`"
        )
    return str(vpcs[0]["VpcId"])


def find_security_group(ec2: EC2Client, vpc_id: str) -> SecurityGroupTypeDef | None:
    """dlpick's SSH security group in a VPC, or None before the first launch there."""
    groups = ec2.describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [SECURITY_GROUP]},
            {"Name": "vpc-id", "Values": [vpc_id]},
        ]
    )["SecurityGroups"]
    return groups[0] if groups else None


def ssh_rules(group: SecurityGroupTypeDef) -> list[str]:
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


def ensure_security_group(
    ec2: EC2Client, vpc_id: str, cidr: str, tags: Sequence[TagTypeDef]
) -> str:
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
        v4: list[IpRangeTypeDef] = [{"CidrIp": c} for c in stale if ":" not in c]
        v6: list[Ipv6RangeTypeDef] = [{"CidrIpv6": c} for c in stale if ":" in c]
        revoke: IpPermissionTypeDef = {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "IpRanges": v4,
            "Ipv6Ranges": v6,
        }
        ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[revoke])
    if cidr not in current:
        allow: IpPermissionTypeDef = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}
        if ":" in cidr:
            allow["Ipv6Ranges"] = [{"CidrIpv6": cidr, "Description": "dlpick: your address"}]
        else:
            allow["IpRanges"] = [{"CidrIp": cidr, "Description": "dlpick: your address"}]
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[allow])
    return group_id
