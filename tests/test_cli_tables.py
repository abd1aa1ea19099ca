"""Every CLI table fits the width without cutting a number, a price, an id or a name.

Each table is printed at 80, 120 and 200 columns (through COLUMNS, as when piped) with
long names, long accelerator names and wide prices. What is dropped on a narrow
terminal is always the least useful columns; at 200 columns nothing is.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from dlpick.tui.cli.batch import JOB_COLUMNS
from dlpick.tui.cli.fleet import LS_COLUMNS
from dlpick.tui.cli.launch import QUOTA_COLUMNS
from dlpick.tui.cli.output import Col, fit, out_width
from dlpick.tui.cli.output import print_offers as print_table
from dlpick.tui.cli.ssh import RUN_COLUMNS
from dlpick.tui.formats import plural
from dlpick.tui.widgets.price_table import columns_for
from tests.batch_fixtures import set_up
from tests.launch_fixtures import only_regions, run
from tests.peers.pricing_api import ec2_product
from tests.peers.sshd import SSH_ALIAS, Sshd
from tests.test_fleet import start

WIDTHS = (80, 120, 200)
LONG_NAME = "dlpick-g6e.xlarge-2026-12-02-abcdef"
NUMBER = re.compile(r"\d")


def table_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.strip()]


def header_labels(out: str, columns: Sequence[Col]) -> list[str]:
    """The column labels (full or short) in the header: the line above the rule."""
    lines = out.splitlines()
    rule = next(n for n, line in enumerate(lines) if line.strip().startswith("─"))
    header = lines[rule - 1]
    shown = []
    for col in columns:
        for label in {col.label, col.short or col.label}:
            if re.search(rf"(^|\s){re.escape(label)}(\s|$)", header):
                shown.append(col.label)
                break
    return shown


def assert_fits(out: str, width: int) -> None:
    for line in table_lines(out):
        assert len(line) <= width, f"{len(line)} > {width}: {line!r}"
    assert "…" not in out


def assert_least_useful_dropped(columns: Sequence[Col], kept: Sequence[str], width: int) -> None:
    dropped = [c for c in columns if c.label not in kept]
    kept_cols = [c for c in columns if c.label in kept]
    assert kept_cols, "no column kept"
    if dropped:
        assert max(c.priority for c in dropped) < min(c.priority for c in kept_cols)
    if width == 200:
        assert dropped == []


@pytest.fixture(params=WIDTHS)
def columns_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The output's width, set through COLUMNS as for a command whose output is piped."""
    width = int(request.param)
    monkeypatch.setenv("COLUMNS", str(width))
    return width


def table_at(
    capsys: pytest.CaptureFixture[str], width: int, columns: Sequence[Col], *argv: str
) -> tuple[str, list[str]]:
    """Run a command at `width` columns; its output, checked to fit, and the labels kept."""
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert_fits(out, width)
    kept = header_labels(out, columns)
    assert_least_useful_dropped(columns, kept, width)
    return out, kept


# -- the width ------------------------------------------------------------------------


def test_the_width_is_columns_when_not_a_terminal_else_80(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "133")
    assert out_width(io.StringIO()) == 133
    monkeypatch.delenv("COLUMNS")
    assert out_width(io.StringIO()) == 80


def test_the_width_is_the_terminals_when_output_goes_to_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fcntl
    import os
    import struct
    import termios

    monkeypatch.setenv("COLUMNS", "133")
    parent, child = os.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 97, 0, 0))
    with open(child, "w") as terminal:
        assert out_width(terminal) == 97
    os.close(parent)


def test_free_text_wraps_and_a_value_is_never_cut() -> None:
    columns = [Col("ID", 100), Col("Note", 10, wrap=True), Col("Extra", 5)]
    rows = [["i-0123456789abcdef0", "a reason that is far too long to fit on one line", "x"]]
    layout = fit(columns, rows, 40)
    assert layout.dropped(columns) == ["Extra"]
    assert layout.widths[0] == len("i-0123456789abcdef0")
    # Not even the most useful column fits: it is kept whole, wider than the width.
    assert fit(columns, rows, 10).widths == (len("i-0123456789abcdef0"),)


def test_count_nouns_agree_with_their_count() -> None:
    assert plural(1, "instance") == "1 instance"
    assert plural(2, "instance type") == "2 instance types"
    assert plural(0, "run") == "0 runs"


# -- prices ---------------------------------------------------------------------------


def offline_records(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "prices", "--offline", *args, "--format", "json")
    assert code == 0, err
    records: list[dict[str, Any]] = json.loads(out)
    # A long accelerator name and a price of two digits before the point.
    wide = dict(records[0])
    wide.update(
        instance_type="g4ad.16xlarge",
        gpu_model="Radeon Pro V520",
        on_demand_usd_hour=98.32,
        spot_usd_hour=31.4159,
        usd_per_fp32_tflop_hour=1.0732,
    )
    return [wide, *records]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    ("spot", "all_regions"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_prices_table_fits_and_keeps_every_price_and_name(
    capsys: pytest.CaptureFixture[str], width: int, spot: bool, all_regions: bool
) -> None:
    records = offline_records(capsys, *(["--region", "all"] if all_regions else []))
    out = io.StringIO()
    dropped = print_table(
        records, spot=spot, show_region=all_regions, title="t", file=out, width=width
    )
    text = out.getvalue()
    assert_fits(text, width)
    columns = [
        Col(c.label, c.priority, short=c.short) for c in columns_for("fp32", spot, all_regions)
    ]
    kept = [c.label for c in columns if c.label not in dropped]
    kept_cols = [c for c in columns if c.label in kept]
    header = text.split("─")[0].splitlines()[-1]
    missing = [c for c in kept_cols if c.label not in header and (c.short or c.label) not in header]
    assert missing == []
    assert_least_useful_dropped(columns, kept, width)
    row = next(line for line in text.splitlines() if line.startswith("g4ad.16xlarge "))
    assert "Radeon Pro V520" in row
    if "$/h" in kept:
        assert " 98.320 " in row + " "
    for record in records:
        assert re.search(rf"(^|\s){re.escape(record['instance_type'])}(\s|$)", text, re.M)


def test_the_column_sorted_on_is_kept_on_a_narrow_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "prices", "--offline", "--sort", "vcpus")
    assert code == 0
    assert "vCPU" in out.split("─")[0].splitlines()[-1].split()
    code, out, _ = run(capsys, "prices", "--offline")
    assert "vCPU" not in out.split("─")[0]


@pytest.mark.parametrize("width", WIDTHS)
def test_prices_command_fits_columns_when_piped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, _ = run(capsys, "prices", "--offline", "--region", "all")
    assert code == 0
    assert_fits(out, width)
    assert "$/h" in out.split("─")[0]  # the header is whole
    for line in out.splitlines():
        assert not re.search(r"\d…|…\d", line)


# -- ls -------------------------------------------------------------------------------


@pytest.fixture
def long_names(aws: Any, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Instances with long names in two regions, one stopped, one not dlpick's."""
    for region, usd in (("us-east-1", 98.32), ("us-west-2", 0.95)):
        aws.pricing.products.append(ec2_product("g6.xlarge", region, usd))
    only_regions(monkeypatch, "us-east-1", "us-west-2")
    insts = [
        start("us-east-1", name=LONG_NAME),
        start("us-east-1", name=LONG_NAME + "-2", managed=False),
        start("us-west-2", name=LONG_NAME + "-west", spot=True),
    ]
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.stop_instances(InstanceIds=[insts[1]["InstanceId"]])
    ec2.create_tags(
        Resources=[insts[0]["InstanceId"]],
        Tags=[
            {"Key": "dlpick:idle-stop-minutes", "Value": "60"},
            {"Key": "dlpick:stop-after", "Value": "2026-12-03T20:00:00Z"},
        ],
    )
    return SimpleNamespace(insts=insts)


def test_ls_table_keeps_ids_names_and_states_whole(
    long_names: SimpleNamespace, capsys: pytest.CaptureFixture[str], columns_env: int
) -> None:
    out, kept = table_at(capsys, columns_env, LS_COLUMNS, "ls", "--all-regions")
    for inst in long_names.insts:
        assert inst["InstanceId"] in out
    assert "stopped" in out.split() and "running" in out.split()
    if "Name" in kept:
        for name in (LONG_NAME, LONG_NAME + "-2", LONG_NAME + "-west"):
            assert name in out.split()
    if "dlpick" not in kept:
        assert f"{long_names.insts[1]['InstanceId']} *" in out
        assert "* not launched by dlpick" in out
    assert out.splitlines()[0].strip() == "3 instances in all enabled regions"


def test_ls_of_one_instance_says_instance(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    start("us-east-1", name=LONG_NAME)
    code, out, _ = run(capsys, "ls")
    assert code == 0 and out.splitlines()[0].strip() == "1 instance in us-east-1"


# -- quotas and runs ------------------------------------------------------------------


def test_quotas_table_fits_and_wraps_the_quota_names(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str], columns_env: int
) -> None:
    out, kept = table_at(capsys, columns_env, QUOTA_COLUMNS, "quotas", "--region", "us-east-1")
    for code_ in ("L-DB2E81BA", "L-417A185B", "L-3819A6DF", "L-7212CCBC"):
        assert code_ in out
    # The quota's name may wrap, never lose a word.
    words = " ".join(out.split())
    if "Quota" in kept:
        assert "Running On-Demand G and VT instances" in words


def test_runs_table_fits_and_wraps_the_command(
    sshd: Sshd, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    command = "echo train.py --config configs/llama-3-8b-finetune.yaml --epochs 30 --lr 3e-5"
    code, out, err = run(capsys, "run", SSH_ALIAS, "--name", "finetune", "--", command)
    assert code == 0, err
    run_id = out.strip()
    for width in WIDTHS:
        monkeypatch.setenv("COLUMNS", str(width))
        out, kept = table_at(capsys, width, RUN_COLUMNS, "runs", SSH_ALIAS)
        assert run_id in out.split()
        if "Command" in kept:
            assert command in " ".join(out.split())


def test_a_quota_request_for_one_vcpu_says_vcpu(
    account: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "quotas", "request", "L-417A185B", "1")
    assert code == 1 and "to 1 vCPU: needs confirmation" in err
    code, out, err = run(capsys, "quotas", "request", "L-417A185B", "1", "--yes")
    assert code == 0, err
    assert "requested L-417A185B = 1 vCPU in us-east-1" in out


# -- batch jobs -----------------------------------------------------------------------


def test_batch_jobs_table_fits_and_keeps_a_long_job_name_whole(
    batch_account: SimpleNamespace, capsys: pytest.CaptureFixture[str], columns_env: int
) -> None:
    set_up("g6.xlarge")
    name = LONG_NAME.replace(".", "-")  # 35 characters; Batch's names take no dot
    code, out, err = run(capsys, "batch", "submit", "--name", name, "--", "python", "train.py")
    assert code == 0, err
    job_id = out.split("submitted ", 1)[1].split()[0]
    out, kept = table_at(capsys, columns_env, JOB_COLUMNS, "batch", "jobs")
    assert job_id in out.split() and "SUCCEEDED" in out.split()
    assert out.splitlines()[0].strip() == "1 Batch job in us-east-1"
    if "Name" in kept:
        assert name in out.split()
    if columns_env >= 120:
        assert "Name" in kept
