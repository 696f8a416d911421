"""ci/: the GitLab template against GitLab's CI schema and run for real with gitlab-ci-local,
the Jenkinsfile through a Groovy parser, and the LAVA definition with a stand-in lava-test-case.

Tools found outside the venv (tests/check.sh installs them into build/tools when it can):
  KCONFORM_GITLAB_CI_LOCAL  gitlab-ci-local (npm); it needs Node >= 20 (4.64.1 runs on Node 20;
                            later releases need Node 22) and rsync
  KCONFORM_GROOVY_JAR       groovy-all.jar (Debian's groovy package, unpacked; needs java)
Each test says why it skips when its tool is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.suite.results import RunRecord
from conformance.suite.verdict import Verdict

REPO = Path(__file__).resolve().parents[1]
CI = REPO / "ci"
DATA = Path(__file__).parent / "data"
BIN = Path(sys.executable).parent  # the venv's scripts (kconform, check-jsonschema)
TOOLS = REPO / "build" / "tools"  # where tests/ci-tools.sh puts the rest


def _tool(env: str, name: str, fallback: Path | None = None) -> str | None:
    path = os.environ.get(env) or shutil.which(name) or next(
        (str(p) for p in (BIN / name, fallback) if p is not None and p.exists()), None)
    return path if path and Path(path).exists() else None


# --------------------------------------------------------------------------- GitLab


def test_gitlab_template_validates_against_gitlab_ci_schema() -> None:
    tool = _tool("KCONFORM_CHECK_JSONSCHEMA", "check-jsonschema")
    if tool is None:
        pytest.skip("check-jsonschema is not installed (it is in the dev extra)")
    proc = subprocess.run([tool, "--builtin-schema", "vendor.gitlab-ci", str(CI / "gitlab-ci.yml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_template(tmp_path: Path) -> None:
    tool = _tool("KCONFORM_CHECK_JSONSCHEMA", "check-jsonschema")
    if tool is None:
        pytest.skip("check-jsonschema is not installed (it is in the dev extra)")
    bad = tmp_path / "bad.yml"
    bad.write_text((CI / "gitlab-ci.yml").read_text().replace("  parallel:\n    matrix:", "  parallel:\n    matrx:"))
    proc = subprocess.run([tool, "--builtin-schema", "vendor.gitlab-ci", str(bad)], capture_output=True, timeout=120)
    assert proc.returncode != 0


def _gitlab_ci_local(name: str = "gitlab-ci-local") -> list[str]:
    tool = _tool("KCONFORM_GITLAB_CI_LOCAL", "gitlab-ci-local", TOOLS / "gcl" / "node_modules" / ".bin" / name)
    if tool is None:
        pytest.skip("gitlab-ci-local not found (npm install gitlab-ci-local@4.64.1; tests/check.sh does it "
                    "into build/tools when npm works; set KCONFORM_GITLAB_CI_LOCAL)")
    probe = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        last = (probe.stderr or probe.stdout).strip().splitlines()[-1:] or ["?"]
        pytest.skip(f"gitlab-ci-local does not start here: {last[0][:200]}")
    if shutil.which("rsync") is None and not (TOOLS / "bin" / "rsync").exists():
        pytest.skip("gitlab-ci-local needs rsync (it copies the project into .gitlab-ci-local/builds)")
    if shutil.which("git") is None:
        pytest.skip("gitlab-ci-local needs git")
    return [tool]


def _baseline(root: Path, failing_slot: str) -> None:
    """A previous release's gather artifacts: results/<slot>/<kernel>/run.json as the gather job left them.
    The case failed there, so the new run lists it as fixed; labels are those the stand-in writes."""
    for slot, label in (("debian-6.1", "standin:debian:6.1"), ("debian-6.12", "standin:debian:6.12"),
                        ("host", "")):
        run = RunRecord.load(DATA / "run-6.18.json")
        if label:
            run.properties["run.label"] = label
        if slot == failing_slot:
            rec = next(c for c in run.cases if (c.classname, c.name) == ("clone3.struct_size", "size-56"))
            rec.verdict, rec.message = Verdict.FAIL, "made to fail in the baseline"
        d = root / "results" / slot / "prev"
        d.mkdir(parents=True)
        run.save(d / "run.json")


def test_gitlab_pipeline_fans_out_and_gathers(tmp_path: Path) -> None:
    """The template as it is, run by gitlab-ci-local (shell executor): the host job, one job per
    kernel of the matrix (with the host run standing in for the VM: KCONFORM_CI_FAKE=1), and the
    gather job with the matrix and the comparison against a baseline."""
    gcl = _gitlab_ci_local()
    project = tmp_path / "project"
    shutil.copytree(CI, project / "ci")
    shutil.copy(CI / "gitlab-ci.yml", project / ".gitlab-ci.yml")
    _baseline(tmp_path / "baseline", failing_slot="debian-6.12")
    git = ["git", "-c", "user.name=kconform", "-c", "user.email=kconform@localhost", "-C", str(project)]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "pipeline under test"]):
        subprocess.run([*git, *cmd], check=True, capture_output=True)
    # one family per job: the whole suite is not what this test is about
    variables = {"KCONFORM_CI_FAKE": "1", "KCONFORM_CI_FAKE_ARGS": "--family clone3",
                 "KCONFORM_RUN_ARGS": "--family clone3", "KCONFORM_INSTALL": "no",
                 "KCONFORM_VENV": sys.prefix, "KCONFORM_BASELINE_DIR": str(tmp_path / "baseline")}
    # --shell-isolation: each job in its own copy of the project, so the gather job sees the kernel jobs'
    # results only through their artifacts and its needs:, as on GitLab
    args = [*gcl, "--shell-isolation", *(x for k, v in variables.items() for x in ("--variable", f"{k}={v}"))]
    env = {**os.environ, "PATH": f"{TOOLS / 'bin'}{os.pathsep}{os.environ['PATH']}"}  # rsync, if unpacked there
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=project, env=env)
    log = proc.stdout + proc.stderr
    (tmp_path / "gitlab-ci-local.log").write_text(log)
    assert proc.returncode == 0, log[-4000:]
    for job in ("kconform:host", "kconform:kernel: [debian:6.1]", "kconform:kernel: [debian:6.12]",
                "kconform:gather"):
        assert f"PASS  {job}" in log, f"{job} did not pass:\n{log[-4000:]}"
    gather = [ln.split(">", 1)[1].strip() for ln in log.splitlines() if ln.startswith("kconform:gather ") and ">" in ln]
    text = "\n".join(gather)
    assert "kconform matrix: 3 run(s)" in text
    assert text.count("kconform baseline:") == 3 and "(no baseline)" not in text
    assert "clone3.struct_size size-56: fail -> pass" in text and "new failure (0)" in text
    artifacts = project / ".gitlab-ci-local" / "artifacts"
    gathered = next(p for p in artifacts.iterdir() if "gather" in p.name) / "results"
    builds = project / ".gitlab-ci-local" / "builds"
    assert len([p for p in builds.iterdir() if p.name.startswith("kconform")]) == 4, "each job in its own copy"
    for name in ("matrix.html", "matrix.md", "baseline.html", "baseline.md"):
        assert (gathered / name).is_file(), name
    kcidb = sorted(gathered.glob("*/*/kcidb.json"))
    assert len(kcidb) == 2 and all(json.loads(k.read_text())["tests"] for k in kcidb)


# --------------------------------------------------------------------------- gather step alone


def _run_gather(tmp_path: Path, new: Path, old: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KCONFORM_INSTALL": "no", "KCONFORM_VENV": sys.prefix}
    return subprocess.run(["sh", str(CI / "run-kconform.sh"), "--gather", str(new), "--baseline", str(old)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)


def test_gather_step_fails_on_regressions_only(tmp_path: Path) -> None:
    old, new = tmp_path / "old" / "results", tmp_path / "new"
    for root, src in ((old, "vm-debian-6.1"), (new, "vm-debian-6.12")):
        (root / "debian" / "k").mkdir(parents=True)
        shutil.copy(DATA / f"{src}.json", root / "debian" / "k" / "run.json")
    proc = _run_gather(tmp_path, new, old)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "changed model (8)" in proc.stdout and (new / "baseline.html").is_file()
    run = RunRecord.load(new / "debian" / "k" / "run.json")
    run.cases[0].verdict = Verdict.ERROR
    run.save(new / "debian" / "k" / "run.json")
    proc = _run_gather(tmp_path, new, old)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "new failure (1)" in proc.stdout
    proc = _run_gather(tmp_path, new, tmp_path / "no-such-baseline")
    assert proc.returncode == 0 and "no baseline at" in proc.stdout


def test_fetch_baseline_from_a_directory(tmp_path: Path) -> None:
    _baseline(tmp_path / "prev", failing_slot="")
    env = {**os.environ, "KCONFORM_BASELINE_DIR": str(tmp_path / "prev")}
    env.pop("KCONFORM_BASELINE_REF", None)
    proc = subprocess.run(["sh", str(CI / "fetch-baseline.sh"), str(tmp_path / "b")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and (tmp_path / "b" / "results" / "host" / "prev" / "run.json").is_file()
    env["KCONFORM_BASELINE_DIR"] = str(tmp_path / "nothing")
    proc = subprocess.run(["sh", str(CI / "fetch-baseline.sh"), str(tmp_path / "c")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, "a baseline asked for but missing must not pass silently"


# --------------------------------------------------------------------------- the guest architecture


def _stub_kconform(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A venv whose kconform only records its arguments (one line per call)."""
    venv, calls = tmp_path / "venv", tmp_path / "calls.txt"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / "bin" / "kconform").write_text('#!/bin/sh\nprintf "%s\\n" "$*" >> "$KC_CALLS"\n')
    (venv / "bin" / "kconform").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCONFORM_")}
    return {**env, "KCONFORM_INSTALL": "no", "KCONFORM_VENV": str(venv), "KC_CALLS": str(calls)}, calls


@pytest.mark.parametrize(("args", "arch_env", "expected"), [
    (["--kernel", "debian:7", "--arch", "arm64"], "", "vm --kernel debian:7 --arch arm64 --out out --"),
    (["--kernel", "debian:7", "--arch", "arm64", "--arch", "amd64", "-j", "2"], "riscv64",  # the option wins
     "vm --kernel debian:7 --arch arm64 --arch amd64 -j 2 --out out --"),
    (["--kernel", "debian:7"], "arm64 amd64", "vm --kernel debian:7 --arch arm64 --arch amd64 --out out --"),
    (["--kernel", "debian:7"], "", "vm --kernel debian:7 --out out --"),
    ([], "arm64", "run --junit out/junit.xml --ktap out/kconform.ktap --json out/run.json --"),  # host: ignored
], ids=["option", "options-over-env", "env", "none", "host-mode-ignores-env"])
def test_run_script_passes_the_guest_architecture(tmp_path: Path, args: list[str], arch_env: str,
                                                  expected: str) -> None:
    env, calls = _stub_kconform(tmp_path)
    if arch_env:
        env["KCONFORM_ARCH"] = arch_env
    proc = subprocess.run(["sh", str(CI / "run-kconform.sh"), "--out", "out", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 1: the stub wrote no JUnit
    assert calls.read_text().splitlines()[0] == expected


def test_run_script_refuses_arch_outside_vm_mode_and_fakes_one_run_per_arch(tmp_path: Path) -> None:
    env, calls = _stub_kconform(tmp_path)
    for extra in ([], ["--gather", "out"]):
        proc = subprocess.run(["sh", str(CI / "run-kconform.sh"), "--arch", "arm64", *extra], capture_output=True,
                              text=True, timeout=60, env=env, cwd=tmp_path)
        assert proc.returncode == 2 and "--arch is for VM mode" in proc.stderr, proc.stderr
    assert not calls.exists()
    proc = subprocess.run(["sh", str(CI / "run-kconform.sh"), "--out", "out", "--kernel", "debian:7", "--arch", "arm64",
                           "--arch", "amd64"], capture_output=True, text=True, timeout=120,
                          env={**env, "KCONFORM_CI_FAKE": "1"}, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    runs = [ln for ln in calls.read_text().splitlines() if ln.startswith("run ")]
    assert [r.split("--label ")[1].split()[0] for r in runs] == ["standin:debian:7-arm64", "standin:debian:7-amd64"]
    assert "--junit out/standin-debian-7-arm64/junit.xml" in runs[0]


def test_pipeline_templates_offer_the_guest_architecture() -> None:
    gitlab, jenkins = (CI / "gitlab-ci.yml").read_text(), (CI / "Jenkinsfile").read_text()
    assert 'KCONFORM_ARCH: ""' in gitlab and '"$KERNEL${KCONFORM_ARCH:+-$KCONFORM_ARCH}"' in gitlab
    assert "string(name: 'KCONFORM_ARCH'" in jenkins and 'KCONFORM_ARCH = "${params.KCONFORM_ARCH}"' in jenkins
    assert "--arch ARCH" in (CI / "run-kconform.sh").read_text() and "--arch" in (CI / "README.md").read_text()


# --------------------------------------------------------------------------- Jenkins


def _groovy() -> list[str]:
    jar = os.environ.get("KCONFORM_GROOVY_JAR") or next(
        (str(p) for p in (TOOLS / "root" / "usr" / "share" / "java" / "groovy-all.jar",
                          Path("/usr/share/java/groovy-all.jar")) if p.exists()), None)
    if jar is None or shutil.which("java") is None:
        pytest.skip("no Groovy parser: needs java and groovy-all.jar (Debian's groovy package; tests/check.sh "
                    "unpacks it into build/tools; or set KCONFORM_GROOVY_JAR)")
    # -XX:-UsePerfData: no /tmp/hsperfdata_<user> left behind on the machine
    return ["java", "-XX:-UsePerfData", "-cp", jar, "groovy.ui.GroovyMain", "-e",
            "new GroovyShell().parse(new File(args[0])); println 'parsed'"]


def test_jenkinsfile_is_valid_groovy(tmp_path: Path) -> None:
    cmd = _groovy()
    proc = subprocess.run([*cmd, str(CI / "Jenkinsfile")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "parsed" in proc.stdout, proc.stderr
    broken = tmp_path / "Jenkinsfile"
    broken.write_text((CI / "Jenkinsfile").read_text().replace("stage('gather') {", "stage('gather') {{", 1))
    proc = subprocess.run([*cmd, str(broken)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0, "the parser must reject a broken Jenkinsfile"


def test_jenkinsfile_fans_out_over_the_same_kernels_as_its_gather() -> None:
    text = (CI / "Jenkinsfile").read_text()
    axis = text.split("values ", 1)[1].splitlines()[0]
    kernels = [v.strip().strip("'") for v in axis.split(",")]
    slots = text.split("SLOTS = [", 1)[1].split("]", 1)[0]
    assert [s.strip().strip("'") for s in slots.split(",")] == [k.replace(":", "-") for k in kernels]


# --------------------------------------------------------------------------- LAVA


def test_lava_definition_reports_every_case_once(tmp_path: Path) -> None:
    """The LAVA test definition's run step with a stand-in lava-test-case: each case exactly once,
    with the result its verdict maps to, plus kconform-run."""
    yaml = (CI / "lava" / "kconform.yaml").read_text()
    assert "format: Lava-Test Test Definition 1.0" in yaml and "./ci/lava/kconform-lava.sh" in yaml
    bindir, log, out = tmp_path / "bin", tmp_path / "calls.txt", tmp_path / "out"
    bindir.mkdir()
    stub = bindir / "lava-test-case"
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$*" >> "$LAVA_CALLS"\n')
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "LAVA_CALLS": str(log),
           "KCONFORM_INSTALL": "no", "KCONFORM_VENV": sys.prefix}
    proc = subprocess.run(["sh", str(CI / "lava" / "kconform-lava.sh"), "--out", str(out), "--",
                           "--family", "clone3", "-k", "size or flags"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = [ln.split() for ln in log.read_text().splitlines()]
    names = [c[0] for c in calls]
    assert len(names) == len(set(names)), "a case was reported twice"
    run = RunRecord.load(out / "run.json")
    expected = {Verdict.PASS: "pass", Verdict.OLD_MODEL: "pass", Verdict.SKIP: "skip", Verdict.FAIL: "fail",
                Verdict.ERROR: "fail", Verdict.OVERRIDDEN: "fail"}
    want = {f"{c.classname}.{c.name}": expected[c.verdict] for c in run.cases}
    got = {c[0]: c[c.index("--result") + 1] for c in calls}
    assert got.pop("kconform-run") == ("pass" if proc.returncode == 0 else "fail")
    assert got == want and len(want) == len(run.cases) >= 20
    assert all("--measurement" in c for c in calls if c[0] != "kconform-run")


def test_lava_without_lava_test_case_prints_signal_lines(tmp_path: Path) -> None:
    from conformance.report import lava

    run = RunRecord.load(DATA / "synthetic-6.1.json")
    lines = lava.render(run).splitlines()
    assert len(lines) == len(run.cases)
    results = {ln.split()[1] for ln in lines}
    assert results == {"pass", "fail", "skip"}
    script = (CI / "lava" / "kconform-lava.sh").read_text()
    assert "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=%s RESULT=%s%s>" in script


def test_lava_kconform_run_fails_when_no_results(tmp_path: Path) -> None:
    bindir, log = tmp_path / "bin", tmp_path / "calls.txt"
    bindir.mkdir()
    (bindir / "lava-test-case").write_text('#!/bin/sh\nprintf "%s\\n" "$*" >> "$LAVA_CALLS"\n')
    (bindir / "lava-test-case").chmod(0o755)
    venv = tmp_path / "venv-without-kconform"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "LAVA_CALLS": str(log),
           "KCONFORM_INSTALL": "no", "KCONFORM_VENV": str(venv)}
    proc = subprocess.run(["sh", str(CI / "lava" / "kconform-lava.sh"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0
    assert log.read_text().splitlines() == ["kconform-run --result fail"]
