"""Writing a file at a path the user named (`bench --export FILE`, a maintainer's `--out`).

One rule for every such path, as a shell's `>` would have it and safer: `-` is stdout;
a symlink is written through, never replaced; anything that is there and is not a
regular file (a device, a directory, a pipe) is refused, never replaced by a file; the
new content replaces the old in one step, keeping the old file's mode, so a full disk
leaves the old file whole and is reported as such.
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
from pathlib import Path

from dlpick.core.errors import DataError, InputError

STDOUT = "-"

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
)


def is_stdout(path: str | Path) -> bool:
    return str(path) == STDOUT


def write_file(path: str | Path, text: str, *, option: str = "") -> str:
    """Write `text` at the path the user gave (`option` names where they gave it);
    '-' writes to stdout. Returns how to name where it went ('stdout', or the path).

    A failure is one DataError (InputError for a path that is not a file) naming the path;
    a failing stdout raises the OSError itself, for `main` to report as the output's.
    """
    if is_stdout(path):
        sys.stdout.write(text)
        sys.stdout.flush()
        return "stdout"
    given = Path(path)
    # Through every symlink, dangling ones included: the file the user means.
    target = Path(os.path.realpath(given))
    named = f"{option} {given}" if option else str(given)
    try:
        found = os.stat(target)
    except FileNotFoundError:
        found = None
    except OSError as exc:
        raise DataError(f"cannot write {named}: {exc.strerror or exc}") from None
    if found is not None and not stat.S_ISREG(found.st_mode):
        kind = next((k for test, k in _KINDS if test(found.st_mode)), "not a regular file")
        where = f" ({target})" if target != given.absolute() else ""
        raise InputError(
            f"{named} is {kind}{where}, not a file dlpick may replace",
            hint="give a file path, or - for stdout",
        )
    tmp = ""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        name = str(target.with_name(f".{target.name}.{secrets.token_hex(6)}"))
        # 0666 less the umask, as `>` would make it; an existing file keeps its own mode.
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        tmp = name
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if found is not None:
            os.chmod(tmp, stat.S_IMODE(found.st_mode))
        os.replace(tmp, target)
        tmp = ""
    except OSError as exc:
        raise DataError(f"cannot write {named}: {exc.strerror or exc}") from None
    finally:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
    return str(given)
