"""The plugin end to end, in a separate pytest process (pytester).

Cases written to leak or hang must come out as errors that name the leak and
the timeout; verdicts must land in the JUnit file as the model says.  Each run three ways: rows through
the plugin's own shortened protocol (the default), through pytest's whole protocol (--kc-full-protocol),
and beside an autouse fixture (then pytest's protocol is used by itself): the same outcomes every time.
"""

from __future__ import annotations

import re
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
        if self.action == "where":  # pytest's whole protocol names the phase; the plugin's sets nothing
            open(os.environ["KC_TEST_WHERE"], "w").write(os.environ.get("PYTEST_CURRENT_TEST", "none"))
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
         for a in ("pass", "leak-child", "leak-fd", "hang", "fail", "old", "where")]

@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_scripted(case, kc):
    kc.check(case)
'''


AUTOUSE = '''
import pytest

@pytest.fixture(autouse=True)
def beside():
    yield
'''

PROTOCOLS = ("row", "full", "autouse")


def _run(where: Path, protocol: str) -> tuple[dict[str, ET.Element], str]:
    (where / "test_scripted.py").write_text(CASES)
    if protocol == "autouse":
        (where / "conftest.py").write_text(AUTOUSE)
    out = where / "out.xml"
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(where / "test_scripted.py"),
         "--kc-junit", str(out), "--kc-timeout", "1", *(["--kc-full-protocol"] if protocol == "full" else [])],
        cwd=where, capture_output=True, text=True, timeout=120,
        env={**{k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}, "KC_TEST_WHERE": str(where / "w")},
    )
    assert out.exists(), proc.stdout + proc.stderr
    root = ET.parse(out).getroot()
    return {tc.get("name", ""): tc for tc in root.iter("testcase")}, (where / "w").read_text()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, ET.Element], str]]:
    return {p: _run(tmp_path_factory.mktemp(f"plugin-{p}"), p) for p in PROTOCOLS}


@pytest.fixture(params=PROTOCOLS)
def junit(request: pytest.FixtureRequest, runs: dict[str, tuple[dict[str, ET.Element], str]]
          ) -> dict[str, ET.Element]:
    return runs[request.param][0]


def test_the_rows_protocol_is_the_plugins_unless_asked_or_another_fixture(
        runs: dict[str, tuple[dict[str, ET.Element], str]]) -> None:
    assert runs["row"][1] == "none"
    assert runs["full"][1].endswith("test_scripted[where] (call)"), runs["full"][1]
    assert runs["autouse"][1].endswith("test_scripted[where] (call)"), runs["autouse"][1]


def test_same_outcomes_either_way(runs: dict[str, tuple[dict[str, ET.Element], str]]) -> None:
    def outcomes(cases: dict[str, ET.Element]) -> dict[str, list[tuple[str, str]]]:
        return {name: [(el.tag, re.sub(r"\d+ \(sleep\)", "PID (sleep)", el.get("message", ""))) for el in tc
                       if el.tag != "properties"] for name, tc in cases.items()}

    assert outcomes(runs["row"][0]) == outcomes(runs["full"][0]) == outcomes(runs["autouse"][0])


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
