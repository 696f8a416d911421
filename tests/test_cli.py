"""Bad input: one line on stderr, exit status 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(list(argv))
    err = capsys.readouterr().err
    return rc, err


def assert_one_line(rc: int, err: str, needle: str) -> None:
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0] and "Traceback" not in err


def test_unknown_option(capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = run(capsys, "run", "--no-such-option")
    assert_one_line(rc, err, "--no-such-option")


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = run(capsys, "frobnicate")
    assert_one_line(rc, err, "frobnicate")


def test_unwritable_report_path(capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = run(capsys, "run", "--junit", "/nonexistent-dir/out.xml")
    assert_one_line(rc, err, "/nonexistent-dir")


def test_report_path_is_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, err = run(capsys, "run", "--ktap", str(tmp_path))
    assert_one_line(rc, err, "is a directory")


def test_missing_expectations(capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = run(capsys, "run", "--expectations", "/nonexistent.toml")
    assert_one_line(rc, err, "/nonexistent.toml")


def test_bad_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = run(capsys, "run", "--timeout", "-1")
    assert_one_line(rc, err, "--timeout")


def test_expectations_unknown_key_names_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "exp.toml"
    f.write_text('[[expect]]\nbehaviour = "clone3.newtime"\nrelease = "6\\\\.1\\\\..*"\n'
                 'reason = "r"\nreference = "ref"\ncolour = "blue"\n')
    rc, err = run(capsys, "run", "--expectations", str(f))
    assert_one_line(rc, err, f"{f}:6: unknown key 'colour'")


def test_expectations_bad_pattern_names_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "exp.toml"
    f.write_text('[[expect]]\nbehaviour = "clone3.newtime"\nrelease = "6.1.(*"\nreason = "r"\nreference = "x"\n')
    rc, err = run(capsys, "run", "--expectations", str(f))
    assert_one_line(rc, err, f"{f}:3: bad release pattern")


def test_expectations_unknown_behaviour(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "exp.toml"
    f.write_text('[[expect]]\nbehaviour = "clone3.nope"\nrelease = ".*"\nreason = "r"\nreference = "x"\n')
    rc, err = run(capsys, "run", "--expectations", str(f))
    assert_one_line(rc, err, "unknown behaviour 'clone3.nope'")
