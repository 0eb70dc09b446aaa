"""`flow --help` is instant: it imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flowlib.cli import main

HEAVY = (
    "pydantic",
    "yaml",
    "httpx",
    "pluggy",
    "flowlib.models",
    "flowlib.flow",
    "flowlib.describe",
    "flowlib.config",
    "flowlib.catalog",
    "flowlib.core.store",
)

PROBE = """
import sys
from flowlib.cli import main
for argv in {argvs!r}:
    assert main(argv) == 0, argv
heavy = [m for m in {heavy!r} if m in sys.modules]
assert not heavy, heavy
"""

HELPS = [
    ["--help"],
    ["--version"],
    *(
        [c, "--help"]
        for c in ("init", "run", "status", "logs", "cancel", "catalog", "wait", "doctor")
    ),
    ["completion", "--help"],
]


def test_help_and_version_import_nothing_heavy() -> None:
    code = PROBE.format(argvs=HELPS, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_help_after_a_program_is_not_flows() -> None:
    # `flow run python x.py --help` must reach x.py: parsing it never prints flow's help.
    code = (
        "import sys\nfrom flowlib.cli._parser import parse_args\n"
        "a = parse_args(['run', 'python', 'x.py', '--help'])\n"
        "assert a.args == ['x.py', '--help']\n"
        f"assert not [m for m in {HEAVY!r} if m in sys.modules]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("argv", HELPS, ids=" ".join)
def test_help_exits_0(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    assert capsys.readouterr().out


def test_the_version_is_the_packages(capsys: pytest.CaptureFixture[str]) -> None:
    import flowlib

    main(["--version"])
    assert capsys.readouterr().out.strip() == f"flow (flowlib) {flowlib.__version__}"


def test_no_command_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_python_dash_m_works() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flowlib.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.startswith("flow (flowlib)")
