"""`dlpick bench` on the real sshd, and prices on measured TFLOPs.

The test host's `python3` is a wrapper around a real interpreter: the project's
venv (numpy, no PyTorch) or build/host-torch (PyTorch's CPU build, `make host-torch`).
So every figure here is a real CPU timing, checked for sanity, not for a value.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dlpick.pricing import measurements
from dlpick.pricing.measurements import Measurement
from dlpick.remote.ssh.bench import result_from
from dlpick.tui.cli.main import main
from tests.peers.imds import Imds
from tests.peers.sshd import SSH_ALIAS, Sshd
from tests.test_ssh_runs import console, instance_on_sshd

__all__ = ["console"]  # a fixture, used by name

ROOT = Path(__file__).parents[1]
NUMPY_PYTHON = ROOT / ".venv" / "bin" / "python"
TORCH_PYTHON = ROOT / "build" / "host-torch" / "bin" / "python"


def host_python(sshd: Sshd, python: Path, environment: str = "") -> None:
    """Make `python` the test host's python3 (a wrapper: a venv needs its own path)."""
    assert python.exists(), f"{python} is missing: run make host-torch"
    sshd.remote_bin.mkdir(exist_ok=True)
    wrapper = sshd.remote_bin / "python3"
    # One math thread: a benchmark takes every core it is given, and the other test
    # workers share this machine's two.
    threads = "export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1\n"
    wrapper.write_text(f'#!/bin/sh\n{threads}{environment}exec {python} "$@"\n')
    wrapper.chmod(0o755)


@pytest.fixture
def numpy_host(sshd: Sshd) -> Iterator[Sshd]:
    host_python(sshd, NUMPY_PYTHON)
    yield sshd
    (sshd.remote_bin / "python3").unlink()


@pytest.fixture
def torch_host(sshd: Sshd) -> Iterator[Sshd]:
    host_python(sshd, TORCH_PYTHON)
    yield sshd
    (sshd.remote_bin / "python3").unlink()


def dlpick(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def bench_json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    code, out, err = dlpick(
        capsys, "bench", SSH_ALIAS, "--seconds", "3", "--format", "json", *extra
    )
    assert code == 0, err
    (record,) = json.loads(out)
    return dict(record)


def sane(value: object) -> float:
    assert isinstance(value, float) and math.isfinite(value) and value > 0, value
    return value


def test_numpy_bench_is_kept_exported_and_read_back(
    numpy_host: Sshd, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    labels = ("--instance-type", "c7i.large", "--region", "eu-west-1")
    first = bench_json(capsys, *labels)
    started = time.monotonic()
    second = bench_json(capsys, *labels)
    took = time.monotonic() - started
    for result in (first, second):
        assert result["backend"] == "numpy-cpu" and result["library"].startswith("numpy ")
        assert (result["instance_type"], result["region"]) == ("c7i.large", "eu-west-1")
        assert result["bf16_tflops"] is None and result["gpu_count"] == 0
        assert result["source"] == SSH_ALIAS and result["sizes"]["fp32"] >= 128
    a, b = sane(first["fp32_tflops"]), sane(second["fp32_tflops"])
    assert 1 / 5 < a / b < 5  # repeatable within a factor
    assert took < 3 + 12  # the budget, plus connecting and starting python
    assert second["elapsed_s"] < 3 + 2  # the host script kept to its budget

    kept = measurements.read(measurements.store_file())
    assert [m.fp32_tflops for m in kept] == [a, b]
    export = tmp_path / "team.csv"
    code, _out, err = dlpick(capsys, "bench", "--export", str(export))
    assert code == 0 and f"wrote 2 measurements to {export}" in err
    assert measurements.read(export) == kept
    # A CPU figure never prices a type: it is kept, not used.
    assert measurements.newest_by_type(measurements.read(export)) == {}


def test_an_instance_id_is_labelled_with_its_type_from_ec2(
    aws: Any,
    numpy_host: Sshd,
    console: dict[str, str],
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    iid = instance_on_sshd(numpy_host, isolated_home, console)  # a g4dn.xlarge in moto
    code, out, err = dlpick(
        capsys, "bench", iid, "--region", "us-east-1", "--seconds", "2", "--format", "json"
    )
    assert code == 0, err
    (result,) = json.loads(out)
    assert (result["instance_type"], result["region"], result["source"]) == (
        "g4dn.xlarge",
        "us-east-1",
        iid,
    )
    assert result["elapsed_s"] < 2 + 2  # the host script kept to its budget


def test_a_host_says_its_type_through_imdsv2(
    numpy_host: Sshd, capsys: pytest.CaptureFixture[str]
) -> None:
    imds = Imds({"instance-type": "g6.xlarge", "placement/region": "eu-north-1"})
    try:
        host_python(
            numpy_host, NUMPY_PYTHON, f"export AWS_EC2_METADATA_SERVICE_ENDPOINT={imds.url}\n"
        )
        result = bench_json(capsys, "--seconds", "2")
    finally:
        imds.stop()
    assert (result["instance_type"], result["region"]) == ("g6.xlarge", "eu-north-1")
    assert imds.refused == 0  # asked with the session token, as IMDSv2 wants


def test_table_says_what_was_measured(numpy_host: Sshd, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = dlpick(capsys, "bench", SSH_ALIAS, "--seconds", "2")
    assert code == 0, err
    assert "numpy-cpu" in out and "all at once" in out
    assert "a CPU figure: kept and exported, never used as a GPU type's TFLOPs" in out
    assert "kept in" in err


def test_torch_cpu_branch(torch_host: Sshd, capsys: pytest.CaptureFixture[str]) -> None:
    result = bench_json(capsys, "--seconds", "5")
    assert result["backend"] == "torch-cpu" and result["library"].startswith("torch ")
    sane(result["fp32_tflops"])
    sane(result["bf16_tflops"])  # this build multiplies bfloat16 on the CPU
    assert result["elapsed_s"] < 5 + 2  # PyTorch's import counts in the budget
    assert result["fp16_tflops"] is None
    assert result["per_device"][0]["fp32"] == result["fp32_tflops"]


def test_refused_while_a_run_is_active_unless_forced(
    numpy_host: Sshd, capsys: pytest.CaptureFixture[str]
) -> None:
    # It ends when told, or when the test host's home is gone: nothing outlives the test.
    hold = 'while [ -d "$HOME" ] && [ ! -f "$HOME/go-on" ]; do sleep 0.2; done'
    code, run_id, err = dlpick(capsys, "run", SSH_ALIAS, "--", hold)
    assert code == 0, err
    try:
        code, out, err = dlpick(capsys, "bench", SSH_ALIAS, "--seconds", "2")
        assert code == 1 and out == ""
        assert err.splitlines() == [
            f"error: a dlpick run is active on {SSH_ALIAS} ({run_id.strip()}): a benchmark "
            "now would slow it and measure less — wait for it to end, or pass --force"
        ]
        assert not measurements.store_file().exists()
        bench_json(capsys, "--seconds", "2", "--force")
        assert len(measurements.read(measurements.store_file())) == 1
    finally:
        (numpy_host.remote_home / "go-on").touch()


# nvidia-smi as the benchmark asks it (two A10Gs): at rest first, then under load.
SMI_QUERIED = r"""#!/bin/sh
case "$*" in
  *--query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit*) ;;
  *) echo "unexpected arguments: $*" >&2; exit 2 ;;
esac
n=$(cat "$HOME/smi-calls" 2>/dev/null || echo 0); echo $((n + 1)) > "$HOME/smi-calls"
if [ "$n" = 0 ]; then clock=210; else clock=1710; fi
echo "NVIDIA A10G, 550.54.15, $clock, 1710, 300.00"
echo "NVIDIA A10G, 550.54.15, $clock, 1710, [N/A]"
"""


def test_gpu_clocks_are_read_under_load_with_the_driver_and_power_limit(
    numpy_host: Sshd, capsys: pytest.CaptureFixture[str]
) -> None:
    smi = numpy_host.remote_bin / "nvidia-smi"
    smi.write_text(SMI_QUERIED)
    smi.chmod(0o755)
    try:
        result = bench_json(capsys, "--instance-type", "g5.12xlarge")
    finally:
        smi.unlink()
    assert (numpy_host.remote_home / "smi-calls").read_text().strip() == "2"
    assert result["driver"] == "550.54.15" and result["chip"] == "cpu (" + cpu_model() + ")"
    assert result["sm_clock_mhz"] == 1710.0  # asked while the multiplies ran, not at rest
    assert result["power_limit_w"] == 300.0


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no model name in /proc/cpuinfo")


def test_a_store_that_cannot_be_read_loses_no_figure(
    numpy_host: Sshd, capsys: pytest.CaptureFixture[str]
) -> None:
    store = measurements.store_file()
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("not,a,measurements,file\n")
    code, out, err = dlpick(capsys, "bench", SSH_ALIAS, "--seconds", "2", "--format", "json")
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"error: {store} is not a dlpick measurements file")
    (printed,) = json.loads(out)  # the figures were printed before the store was tried
    sane(printed["fp32_tflops"])
    assert store.read_text() == "not,a,measurements,file\n"  # and it is left as it was


def test_nothing_to_do_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = dlpick(capsys, "bench")
    assert (code, out) == (2, "")
    assert err == (
        "dlpick bench: error: give a TARGET to benchmark, or --export FILE "
        "(see dlpick bench --help)\n"
    )


def test_a_host_without_python_is_one_line(sshd: Sshd, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = dlpick(
        capsys, "bench", SSH_ALIAS, "--seconds", "2", "--python", "/nowhere/python"
    )
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"error: the benchmark on {SSH_ALIAS} failed (/nowhere/python)")


def test_benchmarks_ending_together_all_keep_their_row(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = tmp_path / "measurements.csv"
    rows = [gpu("g5.xlarge", f"2026-11-20T10:00:{n:02d}Z", 20.0 + n, None) for n in range(20)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda m: measurements.append(m, store), rows))
    assert sorted(measurements.read(store), key=lambda m: m.measured_at) == rows


def gpu(itype: str, when: str, fp32: float, bf16: float | None, **kw: object) -> Measurement:
    values: dict = dict(
        instance_type=itype,
        region="us-east-1",
        chip="NVIDIA A10G",
        gpu_count=1,
        backend="torch-cuda",
        device="NVIDIA A10G",
        measured_at=when,
        driver="550.54.15",
        fp32_tflops=fp32,
        bf16_tflops=bf16,
        fp16_tflops=None,
        min_gpu_fp32_tflops=fp32,
        sm_clock_mhz=1710.0,
        power_limit_w=300.0,
        dlpick_version="0",
        source="i-0abc",
    )
    values.update(kw)
    return Measurement(**values)


def test_prices_on_measured_tflops(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    team = tmp_path / "team.csv"
    measurements.write(
        team,
        [
            gpu("g5.xlarge", "2026-11-01T10:00:00Z", 20.0, 50.0),
            gpu("g5.xlarge", "2026-11-20T10:00:00Z", 25.0, 56.0),  # the newest counts
            gpu("g5.xlarge", "2026-11-30T10:00:00Z", 0.2, None, backend="numpy-cpu"),
        ],
    )
    argv = ["prices", "--offline", "--region", "us-east-1", "--tflops", "measured"]
    code, out, err = dlpick(capsys, *argv, "--measurements", str(team), "--format", "json")
    assert code == 0, err
    records = {r["instance_type"]: r for r in json.loads(out)}
    g5 = records["g5.xlarge"]
    # By hand: the snapshot's g5.xlarge is $1.006/h on demand; 25 TF measured.
    assert g5["fp32_tflops"] == 25.0 and g5["fp32_datasheet_tflops"] == 35.0
    assert g5["usd_per_fp32_tflop_hour"] == pytest.approx(1.006 / 25)
    assert g5["usd_per_bf16_tflop_hour"] == pytest.approx(1.006 / 56)
    assert g5["fp32_measured"] is True and g5["measured_at"] == "2026-11-20T10:00:00Z"
    g6 = records["g6.xlarge"]  # not measured: its datasheet figure, flagged
    assert g6["fp32_measured"] is False and g6["fp32_tflops"] == 30.3

    code, out, err = dlpick(capsys, *argv, "--measurements", str(team), "--gpu", "A10G,L4")
    assert code == 0, err
    g5_line = next(line for line in out.splitlines() if line.startswith("g5.xlarge "))
    g6_line = next(line for line in out.splitlines() if line.startswith("g6.xlarge "))
    assert "25" in g5_line.split() and "0.0402" in g5_line.split()  # 1.006 / 25
    assert "30.3*" in g6_line.split()
    assert "* no measurement of this type: its datasheet TFLOPs (dlpick bench)" in out
    assert "measured FP32 TFLOPs where known" in out


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("instance_type,region\ng5.xlarge,us-east-1\n", "is not a dlpick measurements file"),
        (None, "line 2: fp32_tflops is 'fast', not a number"),
        (None, "line 2: backend 'cuda' is not one of"),
    ],
)
def test_a_malformed_measurements_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str | None, says: str
) -> None:
    bad = tmp_path / "bad.csv"
    good = measurements.to_csv([gpu("g5.xlarge", "2026-11-20T10:00:00Z", 25.0, 56.0)])
    if text is None:
        header, row = good.splitlines()
        if "fp32" in says:
            row = row.replace(",25.0,", ",fast,")
        else:
            row = row.replace(",torch-cuda,", ",cuda,")
        text = f"{header}\n{row}\n"
    bad.write_text(text)
    code, out, err = dlpick(
        capsys, "prices", "--offline", "--tflops", "measured", "--measurements", str(bad)
    )
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and says in err, err


def test_result_labels_come_from_ec2_then_the_host() -> None:
    answer = {
        "backend": "torch-cuda",
        "device": "NVIDIA L4",
        "instance_type": "g6.xlarge",
        "region": "us-west-2",
        "fp32_tflops": 24.5,
        "bf16_tflops": float("nan"),
        "per_device": [{"index": 0, "name": "NVIDIA L4", "fp32": 24.5}],
        "gpus": [
            {
                "name": "NVIDIA L4",
                "driver": "550.90.07",
                "sm_clock_mhz": 2040.0,
                "max_sm_clock_mhz": 2040.0,
                "power_limit_w": 72.0,
            }
        ],
    }
    from_host = result_from(
        answer, source="h", instance_type=None, region=None, version="1", python="p"
    )
    m = from_host.measurement
    assert (m.instance_type, m.region, m.chip, m.gpu_count) == (
        "g6.xlarge",
        "us-west-2",
        "NVIDIA L4",
        1,
    )
    assert m.bf16_tflops is None  # not finite: not a figure
    assert (m.driver, m.power_limit_w, m.counts_for_type) == ("550.90.07", 72.0, True)
    ec2 = result_from(
        answer,
        source="i-1",
        instance_type="g6.2xlarge",
        region="eu-west-1",
        version="1",
        python="p",
    )
    assert (ec2.measurement.instance_type, ec2.measurement.region) == ("g6.2xlarge", "eu-west-1")


# -- --export: a path the user gave ------------------------------------------------------


def kept_two() -> list[Measurement]:
    rows = [
        gpu("g5.xlarge", "2026-11-01T10:00:00Z", 20.0, 50.0),
        gpu("g6.xlarge", "2026-11-02T10:00:00Z", 25.0, 56.0),
    ]
    measurements.write(measurements.store_file(), rows)
    return rows


def test_export_writes_through_a_symlink(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = kept_two()
    (tmp_path / "shared").mkdir()
    real = tmp_path / "shared" / "team.csv"
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    code, out, err = dlpick(capsys, "bench", "--export", str(link))
    assert (code, out) == (0, "") and f"wrote 2 measurements to {link}" in err
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert measurements.read(real) == rows
    assert real.stat().st_mode & 0o777 == 0o640  # the file keeps its mode

    # A link to a file not yet there creates the file, as `>` would.
    (tmp_path / "new.csv").symlink_to(tmp_path / "shared" / "new-team.csv")
    code, _, err = dlpick(capsys, "bench", "--export", str(tmp_path / "new.csv"))
    assert code == 0, err
    assert (tmp_path / "new.csv").is_symlink()
    assert measurements.read(tmp_path / "shared" / "new-team.csv") == rows
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["new-team.csv", "team.csv"]


@pytest.mark.parametrize(
    ("make", "kind"), [("pipe", "a named pipe"), ("dir", "a directory"), ("link", "a named pipe")]
)
def test_export_refuses_what_is_not_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make: str, kind: str
) -> None:
    # A pipe stands for any device: it is not a regular file, and a test that replaced
    # it (as dlpick once replaced /dev/full, run as root) harms nothing outside tmp_path.
    kept_two()
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    path = {"pipe": pipe, "dir": tmp_path / "exports", "link": tmp_path / "out.csv"}[make]
    if make == "dir":
        path.mkdir()
    elif make == "link":
        path.symlink_to(pipe)
    before = [(p.name, os.lstat(p).st_mode, os.lstat(p).st_ino) for p in tmp_path.iterdir()]
    code, out, err = dlpick(capsys, "bench", "--export", str(path))
    assert (code, out) == (1, "")
    assert err.startswith(f"error: --export {path} is {kind}") and err.count("\n") == 1, err
    assert "give a file path, or - for stdout" in err
    after = [(p.name, os.lstat(p).st_mode, os.lstat(p).st_ino) for p in tmp_path.iterdir()]
    assert after == before  # nothing replaced, nothing left behind


def test_export_dash_is_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rows = kept_two()
    code, out, err = dlpick(capsys, "bench", "--export", "-")
    assert code == 0 and "wrote 2 measurements to stdout" in err
    assert measurements.parse(out, "stdout") == rows
    assert not Path("-").exists()


def test_export_dash_with_a_target_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = dlpick(capsys, "bench", SSH_ALIAS, "--export", "-")
    assert (code, out) == (2, "")
    assert err.startswith("dlpick bench: error: --export - writes to stdout")
    assert err.count("\n") == 1


def export_process(
    path: str, cwd: Path, stdout: int | None = None, limit: int | None = None
) -> Any:
    """`dlpick bench --export PATH` in its own process (stdout and file size as given)."""
    import resource

    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "dlpick.tui.cli.main", "bench", "--export", path],
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limited,
        cwd=cwd,
        timeout=60,
    )


def test_export_to_a_full_stdout_says_so(tmp_path: Path) -> None:
    kept_two()
    with open("/dev/full", "w") as full:
        done = export_process("-", tmp_path, stdout=full.fileno())
    assert done.returncode == 1
    assert done.stderr.endswith("error: cannot write the output: No space left on device\n")
    assert "Traceback" not in done.stderr


def test_an_export_that_cannot_be_written_leaves_the_old_file_whole(tmp_path: Path) -> None:
    kept_two()
    (tmp_path / "exports").mkdir()
    old = tmp_path / "exports" / "team.csv"
    old.write_text("the old export\n")
    # The file system refuses more than 200 bytes: as a full disk does, midway.
    done = export_process(str(old), tmp_path, limit=200)
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"error: cannot write --export {old}: File too large\n"
    assert old.read_text() == "the old export\n"
    assert [p.name for p in old.parent.iterdir()] == ["team.csv"]  # no half-written file left
