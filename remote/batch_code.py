"""Code for Batch jobs: a directory packed as one archive, fetched and unpacked by the job.

The archive is made the same way every time (sorted names, no timestamps or owners),
so unchanged code has the same digest and is not uploaded twice.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from dlpick.pricing.errors import InputError

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
