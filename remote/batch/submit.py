"""`dlpick batch submit`: one training command as a Batch job, sized, guarded and retried.

The job definition carries everything but the name: image, command, GPU/vCPU/memory,
the retry strategy (retry a spot reclaim, never the training's own failure) and the
attempt timeout. It is named by a digest of that content, so the same job submitted
again reuses it instead of registering a new revision.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlpick.core.aws import instance_type_name
from dlpick.core.errors import AwsError, InputError
from dlpick.remote.batch import names as names
from dlpick.remote.batch.state import environments, no_setup, queues
from dlpick.remote.launch.model import PlanRow
from dlpick.remote.launch.quotas import QuotaCheck, check_quota

if TYPE_CHECKING:
    from dlpick.core.aws import Aws


# The newest PyTorch training image for EC2 listed there (CUDA 13).
PYTORCH_TRAINING_TAG = "2.9.0-gpu-py312-cu130-ubuntu22.04-ec2"
REPOSITORY = "pytorch-training"
DEFAULT_ACCOUNT = "763104351884"
# Regions whose images live in a registry account of their own.
REGION_ACCOUNTS = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-east-2": "975050140332",
    "ap-south-2": "772153158452",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462",
    "ap-southeast-6": "633930458069",
    "ap-southeast-7": "590183813437",
    "ap-northeast-3": "364406365360",
    "ca-west-1": "204538143572",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "eu-central-2": "380420809688",
    "il-central-1": "780543022126",
    "mx-central-1": "637423239942",
    "me-south-1": "217643126080",
    "me-west-1": "124382933778",
    "me-central-1": "914824155844",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
}


def default_image(region: str) -> str:
    """The PyTorch training image's URI in `region`'s registry (pulled without crossing regions)."""
    account = REGION_ACCOUNTS.get(region, DEFAULT_ACCOUNT)
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{REPOSITORY}:{PYTORCH_TRAINING_TAG}"


# Where the job unpacks the code, and runs the command from.
CODE_DIR = "/opt/dlpick/code"
# Left out of the archive: never code, often large.
SKIPPED = frozenset({".git", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache"})
MAX_BYTES = 512 * 1024 * 1024

# Runs in the job: fetch the archive with the image's AWS CLI, unpack it, run COMMAND there.
FETCH = (
    "set -euo pipefail; "
    f"mkdir -p {CODE_DIR} && cd {CODE_DIR}; "
    'aws s3 cp --only-show-errors "$DLPICK_CODE_URI" - | tar -xzf -; '
    'exec "$@"'
)


def fetch_and_run(command: list[str]) -> list[str]:
    """COMMAND wrapped so the job first fetches and unpacks its code."""
    return ["bash", "-c", FETCH, "dlpick-fetch", *command]


def _files(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in SKIPPED for part in rel.parts):
            continue
        if path.is_file() and not path.is_symlink():
            out.append(path)
    return out


def archive(root: Path) -> bytes:
    """The directory as a reproducible .tar.gz."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        for path in _files(root):
            info = tarfile.TarInfo(str(path.relative_to(root)))
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
            info.size = len(data)
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            tar.addfile(info, io.BytesIO(data))
            if buffer.tell() > MAX_BYTES:
                raise InputError(
                    f"--code {root} packs to more than {MAX_BYTES // 2**20} MiB",
                    hint="keep data in S3 and only code in the directory",
                )
    return buffer.getvalue()


# A spot reclaim ends the attempt with "Host EC2 (instance i-...) terminated."; any other
# end is the job's own and is not retried. Without a match Batch retries, hence the EXIT.
RETRY_ON_RECLAIM = [
    {"onStatusReason": "Host EC2*", "action": "RETRY"},
    {"onReason": "*", "action": "EXIT"},
]
ATTEMPTS = 3
# ECS keeps some of a host's memory for itself; a job asking for all of it never starts.
MEMORY_SHARE = 0.9
MIN_TIMEOUT_SECONDS = 60  # Batch's smallest attempt timeout


@dataclass
class SubmitRequest:
    """What the user asked to run: the CLI's flags and command."""

    region: str
    command: list[str]
    name: str | None = None
    gpus: int | None = None
    instance_type: str | None = None
    array: int | None = None
    nodes: int | None = None
    image: str | None = None
    code: Path | None = None
    max_hours: float | None = None
    on_demand: bool = False


@dataclass(frozen=True)
class HostType:
    """An instance type of the environment, as EC2 describes it."""

    instance_type: str
    gpus: int
    vcpus: int
    memory_mib: int


@dataclass
class SubmitPlan:
    """The job as it will be submitted, found with read-only calls."""

    request: SubmitRequest
    queue: str
    host: HostType
    gpus: int
    vcpus: int
    memory_mib: int
    image: str
    definition: dict[str, Any]  # RegisterJobDefinition's arguments, without the name
    quota: QuotaCheck
    bucket: str
    code_key: str | None = None
    code_bytes: bytes | None = field(default=None, repr=False)
    notes: list[PlanRow] = field(default_factory=list)

    @property
    def spot(self) -> bool:
        return self.queue == names.SPOT_QUEUE

    @property
    def definition_name(self) -> str:
        digest = hashlib.sha256(json.dumps(self.definition, sort_keys=True).encode())
        return f"{names.JOB_DEFINITION_PREFIX}{digest.hexdigest()[:20]}"

    @property
    def job_name(self) -> str:
        return job_name(self.request)

    def rows(self) -> list[PlanRow]:
        r = self.request
        market = "spot first, then on-demand" if self.spot else "on-demand"
        shape = "one job"
        if r.array:
            shape = f"array of {r.array} (AWS_BATCH_JOB_ARRAY_INDEX 0..{r.array - 1})"
        if r.nodes:
            shape = f"multi-node, {r.nodes} x {self.host.instance_type}"
        rows = [
            PlanRow("job", f"{self.job_name}: {' '.join(r.command)}"),
            PlanRow("queue", f"{self.queue} ({market})"),
            PlanRow("shape", shape),
            PlanRow(
                "resources",
                f"{self.gpus} GPU, {self.vcpus} vCPUs, {self.memory_mib} MiB "
                f"(sized on {self.host.instance_type})",
            ),
            PlanRow("image", self.image),
            PlanRow("quota", self.quota.summary(), "quota"),
            PlanRow("retries", f"up to {ATTEMPTS} attempts when the host goes (spot reclaim)"),
        ]
        if r.max_hours:
            rows.append(PlanRow("time limit", f"{r.max_hours:g} h per attempt"))
        if self.code_key:
            rows.append(PlanRow("code", f"{r.code} -> s3://{self.bucket}/{self.code_key}"))
        return rows + self.notes

    def describe(self) -> list[str]:
        return [row.line() for row in self.rows()]


# Words a training command often starts with that say nothing about the job.
LAUNCHERS = frozenset(
    {"python", "python3", "torchrun", "accelerate", "launch", "deepspeed", "bash", "sh"}
)


def job_name(req: SubmitRequest) -> str:
    """--name (checked by check_request), or 'dlpick-' plus the script's name
    ('python train.py' -> 'dlpick-train')."""
    if req.name is not None:
        return req.name
    words = [w for w in req.command if not w.startswith("-") and w not in LAUNCHERS]
    raw = "dlpick-" + Path(words[0] if words else req.command[0]).name.removesuffix(".py")
    return re.sub(r"[^A-Za-z0-9_-]", "-", raw)[:128]


def host_types(aws: Aws, region: str, types: list[str]) -> list[HostType]:
    answer = aws.ec2(region).describe_instance_types(
        InstanceTypes=[instance_type_name(t) for t in types]
    )
    hosts = []
    for t in answer["InstanceTypes"]:
        gpus = sum(int(g.get("Count", 0)) for g in t.get("GpuInfo", {}).get("Gpus", []))
        hosts.append(
            HostType(
                instance_type=str(t["InstanceType"]),
                gpus=gpus,
                vcpus=int(t["VCpuInfo"]["DefaultVCpus"]),
                memory_mib=int(t["MemoryInfo"]["SizeInMiB"]),
            )
        )
    # Smallest first: a job sized on the smallest host with its GPUs fits on the others.
    return sorted(hosts, key=lambda h: (h.vcpus, h.memory_mib, h.instance_type))


def size_job(req: SubmitRequest, hosts: list[HostType]) -> tuple[HostType, int, int, int]:
    """(host it is sized on, GPUs, vCPUs, MiB): its share of the host its GPUs need."""
    offered = ", ".join(h.instance_type for h in hosts)
    if req.instance_type:
        chosen = [h for h in hosts if h.instance_type == req.instance_type]
        if not chosen:
            raise InputError(
                f"{req.instance_type} is not one of the environment's types ({offered})",
                hint="`dlpick batch teardown`, then `dlpick batch setup --types ...` changes them",
            )
        host = chosen[0]
        gpus = req.gpus or host.gpus
    else:
        gpus = req.gpus or 1
        fitting = [h for h in hosts if h.gpus >= gpus]
        if not fitting:
            raise InputError(f"no type of the environment has {gpus} GPUs ({offered})")
        host = fitting[0]
    if gpus > host.gpus:
        raise InputError(f"{host.instance_type} has {host.gpus} GPU(s), not {gpus}")
    share = 1.0 if req.nodes else gpus / host.gpus
    vcpus = max(1, int(host.vcpus * share))
    memory = max(4, int(host.memory_mib * share * MEMORY_SHARE))
    return host, gpus, vcpus, memory


def container_properties(
    plan_image: str,
    command: list[str],
    resources: tuple[int, int, int],
    role: str,
    code: str | None,
) -> dict[str, Any]:
    gpus, vcpus, memory = resources
    props: dict[str, Any] = {
        "image": plan_image,
        "command": fetch_and_run(command) if code else list(command),
        "jobRoleArn": role,
        "resourceRequirements": [
            {"type": "GPU", "value": str(gpus)},
            {"type": "VCPU", "value": str(vcpus)},
            {"type": "MEMORY", "value": str(memory)},
        ],
        # PyTorch's data loader workers share tensors through /dev/shm.
        "linuxParameters": {"sharedMemorySize": memory // 2},
    }
    if code:
        props["environment"] = [{"name": "DLPICK_CODE_URI", "value": code}]
    return props


# What Batch takes as a job's name (SubmitJob's jobName).
JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def check_request(req: SubmitRequest) -> None:
    """Refuse shapes Batch would refuse, and values it would take otherwise than meant,
    before any call."""
    if not req.command:
        raise InputError("no command to run; put it after `--`")
    if req.name is not None and not JOB_NAME.fullmatch(req.name):
        raise InputError(
            f"job name {req.name!r}: use letters, digits, '_' or '-', starting with a letter "
            "or digit (up to 128, no spaces)"
        )
    if req.image is not None and (not req.image.strip() or req.image != req.image.strip()):
        raise InputError(
            f"--image {req.image!r} is not an image URI",
            hint="leave --image out for AWS's PyTorch training image",
        )
    if req.nodes is not None and req.array is not None:
        raise InputError("--nodes and --array cannot be combined (Batch has no multi-node arrays)")
    if req.max_hours is not None and req.max_hours * 3600 < MIN_TIMEOUT_SECONDS:
        raise InputError("--max-hours must be at least one minute (Batch's shortest timeout)")
    if req.code is not None and not req.code.is_dir():
        raise InputError(f"--code {req.code} is not a directory")


def plan_submit(aws: Aws, req: SubmitRequest) -> SubmitPlan:
    """The job as it will be submitted, with its quota verdict."""
    check_request(req)
    region = req.region
    batch = aws.batch(region)
    multi = req.nodes is not None
    queue = names.ON_DEMAND_QUEUE if (req.on_demand or multi) else names.SPOT_QUEUE
    found = queues(batch, [queue])
    if queue not in found:
        raise no_setup(region)
    if found[queue].get("state") != "ENABLED":
        raise InputError(f"job queue {queue} is disabled in {region}")
    env_name = names.SPOT_ENVIRONMENT if queue == names.SPOT_QUEUE else names.ON_DEMAND_ENVIRONMENT
    env = environments(batch, [env_name]).get(env_name)
    if env is None:
        raise InputError(f"compute environment {env_name} is missing in {region}")
    resources = env.get("computeResources", {})
    if multi and resources.get("type") in ("SPOT", "FARGATE_SPOT"):
        raise InputError("multi-node jobs cannot run on spot; Batch does not support it")
    host, gpus, vcpus, memory = size_job(req, host_types(aws, region, resources["instanceTypes"]))
    account = str(aws.sts(region).get_caller_identity()["Account"])
    bucket = names.bucket_name(account, region)
    code_key = code_bytes = None
    if req.code is not None:
        code_bytes = archive(req.code)
        code_key = f"code/{hashlib.sha256(code_bytes).hexdigest()[:24]}.tar.gz"
    try:
        role = str(aws.iam(region).get_role(RoleName=names.JOB_ROLE)["Role"]["Arn"])
    except AwsError as exc:
        if exc.code != "NoSuchEntity":
            raise
        raise InputError(
            f"the job role {names.JOB_ROLE} is missing",
            hint=f"run `dlpick batch setup --region {region}`",
        ) from None
    image = default_image(region) if req.image is None else req.image
    props = container_properties(
        image,
        req.command,
        (gpus, vcpus, memory),
        role,
        f"s3://{bucket}/{code_key}" if code_key else None,
    )
    definition: dict[str, Any] = {
        "retryStrategy": {"attempts": ATTEMPTS, "evaluateOnExit": RETRY_ON_RECLAIM},
        "propagateTags": True,
    }
    if req.max_hours:
        definition["timeout"] = {"attemptDurationSeconds": int(req.max_hours * 3600)}
    if multi:
        props["instanceType"] = host.instance_type
        definition["type"] = "multinode"
        definition["nodeProperties"] = {
            "numNodes": req.nodes,
            "mainNode": 0,
            "nodeRangeProperties": [{"targetNodes": "0:", "container": props}],
        }
    else:
        definition["type"] = "container"
        definition["containerProperties"] = props
    count = req.nodes or 1
    quota = check_quota(
        aws,
        region,
        host.instance_type,
        host.vcpus,
        spot=not multi and queue == names.SPOT_QUEUE,
        count=count,
    )
    plan = SubmitPlan(
        request=req,
        queue=queue,
        host=host,
        gpus=gpus,
        vcpus=vcpus,
        memory_mib=memory,
        image=image,
        definition=definition,
        quota=quota,
        bucket=bucket,
        code_key=code_key,
        code_bytes=code_bytes,
    )
    if req.array and quota.verdict == "fits" and quota.quota and quota.quota.value is not None:
        room = int(quota.quota.value) - int(quota.used_vcpus or 0)
        at_once = room // max(1, host.vcpus)
        if at_once < req.array:
            plan.notes.append(
                PlanRow("note", f"the quota runs at most {at_once} of the {req.array} at once")
            )
    return plan


def quota_refusal(plan: SubmitPlan) -> InputError | None:
    """The refusal when the quota cannot hold even one attempt of the job."""
    check = plan.quota
    if check.verdict != "short" or check.quota is None:
        return None
    return InputError(
        f"{check.summary()}; not submitting. Ask AWS for more: dlpick quotas request "
        f"{check.quota.code} {check.request_value} --region {plan.request.region}"
    )


def job_definition(aws: Aws, plan: SubmitPlan, owner_tags: dict[str, str]) -> str:
    """The ARN of the job definition with this content: the existing one, or a new one."""
    batch = aws.batch(plan.request.region)
    name = plan.definition_name
    found = batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")
    existing = sorted(found["jobDefinitions"], key=lambda d: int(d.get("revision", 0)))
    if existing:
        return str(existing[-1]["jobDefinitionArn"])
    answer = batch.register_job_definition(
        jobDefinitionName=name, tags=owner_tags, **plan.definition
    )
    return str(answer["jobDefinitionArn"])


def upload_code(aws: Aws, plan: SubmitPlan, progress: Callable[[str], None]) -> None:
    """Put the code archive in the bucket unless the same archive is there already."""
    if plan.code_key is None or plan.code_bytes is None:
        return
    s3 = aws.s3(plan.request.region)
    try:
        s3.head_object(Bucket=plan.bucket, Key=plan.code_key)
        progress(f"code already in s3://{plan.bucket}/{plan.code_key}")
        return
    except AwsError as exc:
        if exc.code not in ("404", "NoSuchKey"):
            raise
    progress(f"uploading {len(plan.code_bytes):,} bytes of code to s3://{plan.bucket}")
    s3.put_object(Bucket=plan.bucket, Key=plan.code_key, Body=plan.code_bytes)


def submit(aws: Aws, plan: SubmitPlan, progress: Callable[[str], None]) -> str:
    """Upload the code, register (or reuse) the definition, submit; returns the job id."""
    region = plan.request.region
    owner = str(aws.sts(region).get_caller_identity()["Arn"])
    tags = names.batch_tags(owner)
    upload_code(aws, plan, progress)
    arn = job_definition(aws, plan, tags)
    args: dict[str, Any] = {
        "jobName": plan.job_name,
        "jobQueue": plan.queue,
        "jobDefinition": arn,
        "tags": tags,
        "propagateTags": True,
    }
    if plan.request.array:
        args["arrayProperties"] = {"size": plan.request.array}
    answer = aws.batch(region).submit_job(**args)
    return str(answer["jobId"])
