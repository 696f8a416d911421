"""The plugin end to end, in a separate pytest process (pytester).

Cases written to leak or hang must come out as errors that name the leak and
the timeout; verdicts must land in the JUnit file as the model says.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

CASES = '''
import os, subprocess, time

from conformance.host.records import record
import pytest
from conformance.suite.case import AllOf, Case, OldModel

@record(frozen=True)
class Is:
    want: str

    def mismatch(self, obs: str) -> str | None:
        return None if obs == self.want else f"expected {self.want}"

@record(frozen=True, kw_only=True)
class Scripted(Case[str]):
    action: str = "pass"

    def observe(self) -> str:
        if self.action == "leak-child":
            subprocess.Popen(["sleep", "30"])
        if self.action == "leak-fd":
            os.open("/dev/null", os.O_RDONLY)
        if self.action == "hang":
            time.sleep(30)
        return {"fail": "failed with E2BIG", "old": "failed with EINVAL"}.get(self.action, "ok")

    def describe(self, obs: str) -> str:
        return obs

OK = AllOf((Is("ok"),))
OLD = OldModel("99.0", "a402f1e35313", "old", expect=AllOf((Is("failed with EINVAL"),)))
CASES = [Scripted(id=a, behaviour="clone3.basic", action=a, expect=OK, old=OLD if a == "old" else None)
         for a in ("pass", "leak-child", "leak-fd", "hang", "fail", "old")]

@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_scripted(case, kc):
    kc.check(case)
'''


@pytest.fixture(scope="module")
def junit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ET.Element]:
    pytester_dir = tmp_path_factory.mktemp("plugin")
    (pytester_dir / "test_scripted.py").write_text(CASES)
    out = pytester_dir / "out.xml"
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(pytester_dir / "test_scripted.py"),
         "--kc-junit", str(out), "--kc-timeout", "1"],
        cwd=pytester_dir, capture_output=True, text=True, timeout=120,
    )
    assert out.exists(), proc.stdout + proc.stderr
    root = ET.parse(out).getroot()
    return {tc.get("name", ""): tc for tc in root.iter("testcase")}


def test_pass_is_plain(junit: dict[str, ET.Element]) -> None:
    assert list(junit["pass"]) == []
    assert junit["pass"].get("classname") == "clone3.basic"


def test_leaked_child_is_error_naming_it(junit: dict[str, ET.Element]) -> None:
    err = junit["leak-child"].find("error")
    assert err is not None
    assert "child process" in err.get("message", "") and "sleep" in err.get("message", "")


def test_leaked_fd_is_error_naming_it(junit: dict[str, ET.Element]) -> None:
    err = junit["leak-fd"].find("error")
    assert err is not None and "/dev/null" in err.get("message", "")


def test_hang_is_error_naming_timeout(junit: dict[str, ET.Element]) -> None:
    err = junit["hang"].find("error")
    assert err is not None and "timed out after 1 s" in err.get("message", "")


def test_fail_is_failure(junit: dict[str, ET.Element]) -> None:
    f = junit["fail"].find("failure")
    assert f is not None and "E2BIG" in f.get("message", "")


def test_old_model_is_prefixed_skip(junit: dict[str, ET.Element]) -> None:
    s = junit["old"].find("skipped")
    assert s is not None and s.get("message", "").startswith("old-model:")


def test_no_leftover_sleep() -> None:
    procs = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    for p in procs:
        try:
            if (p / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"30"]:
                pytest.fail(f"leaked sleep {p.name} survived the guard")
        except OSError:
            pass
