"""Instance specs: what an EC2 instance type has, from DescribeInstanceTypes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from dlpick.core.aws import paginate
from dlpick.pricing.chips import Chip, load_chips

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# DescribeInstanceTypes takes wildcards on instance-type; these prefixes cover
# every family with GPUs or accelerators (g*, p*, gr*, trn*, inf*, dl*, vt*) in
# one request, instead of paging through the ~1,000 types of a region.
ACCELERATED_TYPE_PATTERNS = ("g*", "p*", "trn*", "inf*", "dl*", "vt*")


@dataclass(frozen=True)
class InstanceSpec:
    """One instance type and its accelerators, as EC2 describes it."""

    instance_type: str
    vcpus: int
    memory_gib: float
    architectures: tuple[str, ...]
    accelerator_kind: str  # "gpu", "neuron" or "inference"
    accelerator_vendor: str
    accelerator_name: str
    accelerator_count: float  # fractional for partitioned GPUs (g6f: 1/8 of an L4)
    accelerator_memory_gib: float  # whole instance
    usage_classes: tuple[str, ...] = ("on-demand", "spot")

    @property
    def family(self) -> str:
        return self.instance_type.split(".", 1)[0]

    @property
    def arch(self) -> str:
        return "arm64" if "arm64" in self.architectures else "x86_64"

    @property
    def per_accelerator_memory_gib(self) -> float:
        return (
            self.accelerator_memory_gib / self.accelerator_count if self.accelerator_count else 0.0
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["architectures"] = list(self.architectures)
        data["usage_classes"] = list(self.usage_classes)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstanceSpec:
        return cls(
            instance_type=data["instance_type"],
            vcpus=int(data["vcpus"]),
            memory_gib=float(data["memory_gib"]),
            architectures=tuple(data["architectures"]),
            accelerator_kind=data["accelerator_kind"],
            accelerator_vendor=data["accelerator_vendor"],
            accelerator_name=data["accelerator_name"],
            accelerator_count=float(data["accelerator_count"]),
            accelerator_memory_gib=float(data["accelerator_memory_gib"]),
            usage_classes=tuple(data.get("usage_classes", ("on-demand", "spot"))),
        )


def _mib_to_gib(mib: float) -> float:
    return round(mib / 1024, 3)


def _neuron_device_gib(name: str) -> float | None:
    """A Neuron device's memory as AWS's Neuron docs give it (data/chips.csv), if known.

    EC2's MemoryInfo for Trainium2 is 512 GiB per device, not its 96 GiB of HBM, so
    the vendor figure is used for every Neuron device rather than EC2's.
    """
    for chip in load_chips():
        if chip.vendor == "AWS" and name.casefold() in (n.casefold() for n in chip.ec2_names):
            return chip.memory_gib
    return None


def spec_from_api(record: dict[str, Any]) -> InstanceSpec | None:
    """Build a spec from one DescribeInstanceTypes record; None when it has no accelerator."""
    gpu = record.get("GpuInfo")
    neuron = record.get("NeuronInfo")
    inference = record.get("InferenceAcceleratorInfo")
    if gpu and gpu.get("Gpus"):
        kind, devices, total_key = "gpu", gpu["Gpus"], "TotalGpuMemoryInMiB"
        info = gpu
    elif neuron and neuron.get("NeuronDevices"):
        kind, devices, total_key = "neuron", neuron["NeuronDevices"], "TotalNeuronDeviceMemoryInMiB"
        info = neuron
    elif inference and inference.get("Accelerators"):
        kind, devices, total_key = (
            "inference",
            inference["Accelerators"],
            "TotalInferenceMemoryInMiB",
        )
        info = inference
    else:
        return None
    device = devices[0]
    count = float(device.get("Count") or 0)
    partition = float(device.get("GpuPartitionSize") or 1.0)
    if partition < 1.0:
        # A partitioned GPU reports Count 0 and a LogicalGpuCount of slices.
        count = float(device.get("LogicalGpuCount") or 1) * partition
    count += sum(float(d.get("Count") or 0) for d in devices[1:])
    per_device_mib = float((device.get("MemoryInfo") or {}).get("SizeInMiB") or 0)
    total_mib = info.get(total_key)
    if total_mib is None:
        slices = device.get("LogicalGpuCount") if partition < 1.0 else device.get("Count")
        total_mib = per_device_mib * float(slices or 0)
    vendor = device.get("Manufacturer") or ("AWS" if kind == "neuron" else "")
    device_gib = _neuron_device_gib(device.get("Name", "")) if kind == "neuron" else None
    total_gib = round(device_gib * count, 3) if device_gib else _mib_to_gib(float(total_mib))
    return InstanceSpec(
        instance_type=record["InstanceType"],
        vcpus=int(record["VCpuInfo"]["DefaultVCpus"]),
        memory_gib=_mib_to_gib(float(record["MemoryInfo"]["SizeInMiB"])),
        architectures=tuple(record.get("ProcessorInfo", {}).get("SupportedArchitectures", [])),
        accelerator_kind=kind,
        accelerator_vendor=vendor,
        accelerator_name=device.get("Name", ""),
        accelerator_count=round(count, 4),
        accelerator_memory_gib=total_gib,
        usage_classes=tuple(record.get("SupportedUsageClasses", ("on-demand", "spot"))),
    )


def specs_from_api(records: list[dict[str, Any]]) -> dict[str, InstanceSpec]:
    """Specs keyed by instance type, keeping only types with accelerators."""
    specs = {}
    for record in records:
        spec = spec_from_api(record)
        if spec is not None:
            specs[spec.instance_type] = spec
    return specs


def fetch_offered(ec2: EC2Client) -> set[str]:
    """The instance types the client's region offers (one call: a region has under 1,000)."""
    offers = paginate(
        ec2.describe_instance_type_offerings,
        "InstanceTypeOfferings",
        LocationType="region",
        MaxResults=1000,
    )
    return {o["InstanceType"] for o in offers if "InstanceType" in o}


def fetch_specs(ec2: EC2Client) -> dict[str, InstanceSpec]:
    """Every accelerated instance type the client's region offers (usually two calls).

    DescribeInstanceTypes also describes types no one can launch in the region any
    more; only those with an offering there are kept.
    """
    records = paginate(
        ec2.describe_instance_types,
        "InstanceTypes",
        Filters=[{"Name": "instance-type", "Values": list(ACCELERATED_TYPE_PATTERNS)}],
        MaxResults=100,
    )
    offered = fetch_offered(ec2)
    return {t: s for t, s in specs_from_api(records).items() if t in offered}


def chip_for(spec: InstanceSpec, chips: tuple[Chip, ...] | None = None) -> Chip | None:
    """The chip an instance type carries.

    A row limited to the type's family wins (it settles names EC2 shares between
    parts: V100 16/32 GB, A100 40/80 GB, B200 in HGX and in GB200). Otherwise the
    row with EC2's accelerator name, the one nearest in memory if several.
    """
    chips = load_chips() if chips is None else chips
    in_family = [c for c in chips if spec.family in c.families]
    name = spec.accelerator_name.casefold()
    named = [c for c in chips if name in (n.casefold() for n in c.ec2_names)]
    candidates = in_family or named
    if not candidates:
        return None
    # Memory per whole accelerator (a g6f slice scales back up to a full L4).
    per_device = spec.per_accelerator_memory_gib
    return min(candidates, key=lambda c: abs((c.memory_gib or 0) - per_device))
