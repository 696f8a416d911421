"""CI stage: kconform's results read back from a real SQUAD server.

    python tests/squad_stage.py --out build/check/squad HOST.json VM_RESULT_DIR_OR_RECORD

1. SQUAD from PyPI (``squad==SQUAD_VERSION``) in its own virtual environment,
   build/squad/venv (never in the repository).  Its web assets are the ones its
   ``frontend/static/download.conf`` names, taken from the npm registry
   (``npm pack``) at exactly those versions, each tarball checked against the
   SHA-256 pinned in ASSETS below, and each single-file asset also against
   download.conf's own SHA-1 where npm ships the same bytes as the upstream URL.
2. A throw-away data directory (SQLite database, static files, storage, secret
   key); ``squad-admin migrate``, ``collectstatic`` and ``get_token GROUP/PROJECT``
   (SQUAD's own command: creates the group, the project, a submitter user and
   its token), then SQUAD's own server (gunicorn) on 127.0.0.1, a free port.
3. ``kconform report --squad`` submits the host run and the VM run (token in the
   environment), then a refused token (exit 3), a bad URL (exit 2) and the same
   run again (SQUAD refuses the duplicate job_id; reported, not counted twice).
4. Read back through SQUAD's REST API: per test run the count of tests per
   status, the metadata, the metrics and the attachments (byte for byte), all
   equal to what kconform meant to send.
5. The build's page in headless Chromium: the rendered text names the build,
   both environments and the suites; a screenshot is kept (``--out``).
6. The server is stopped and its data directory removed, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from conformance.report import squad  # noqa: E402
from conformance.report.cli import collect  # noqa: E402
from tests.helpers import browser  # noqa: E402

SQUAD_VERSION = "1.98"
GROUP, PROJECT = "kconform", "kernel-qa"


@dataclass(frozen=True)
class Asset:
    destination: str  # download.conf's DESTINATION
    npm: str  # package@version
    sha256: str  # of the npm tarball
    inside: str  # file or directory in the tarball's package/ that becomes DESTINATION
    same_bytes: bool  # npm ships the very file download.conf's URL serves (its SHA-1 is checked too)
    version: str  # the version download.conf's URL names


# npm's angular builds differ from code.angularjs.org's by their banner, so their SHA-1s differ; the rest
# of the single files are identical.  Archives (bootstrap, floatThead, font-awesome) are compared by version.
ASSETS = (
    Asset("angularjs/angular.min.js", "angular@1.6.6",
          "dba9504003f32f0a776beaab68ab4a7dbd80ebe9744e2f5eb8c6808aa8760944", "angular.min.js", False, "1.6.6"),
    Asset("angularjs/angular-mocks.js", "angular-mocks@1.6.6",
          "5a527141ff843f98e5536f3d2a61252e4465df7902ee0997726fd57262d60b00", "angular-mocks.js", False, "1.6.6"),
    Asset("angularjs/angular-resource.min.js", "angular-resource@1.6.6",
          "49619e428121fd524dee1773df8c47b3ef7e7acd232e6d60af77eeec99ae1e39", "angular-resource.min.js", False,
          "1.6.6"),
    Asset("bootstrap", "bootstrap@3.3.7",
          "a9de9f9d74b46743821bda60e5f81233c7a2dc83ad4db60d0c0e396dc255fc2a", "dist", False, "3.3.7"),
    Asset("chartjs/Chart.bundle.js", "chart.js@2.7.0",
          "b7b7a57d5e37dba3a3951da76a8d84889319eb38516cdb30e3865fe6aa02d279", "dist/Chart.bundle.js", True,
          "2.7.0"),
    Asset("font-awesome", "font-awesome@4.7.0",
          "92042b715919e17499ded134884b0318fd88041efac9b0f3204069df52222a61", ".", False, "4.7.0"),
    Asset("lodash.js", "lodash@4.17.14",
          "7fc400e3af1d27d795c079e5265ce208029081ce08e400013eb875c4a0fe2535", "lodash.js", True, "4.17.14"),
    Asset("jquery.js", "jquery@3.2.1",
          "577170f0c936e943a2dfc11a6ece0fe733fc7cf16f204dcd5f3e47392ecd82c5", "dist/jquery.js", True, "3.2.1"),
    Asset("floatThead", "floatthead@2.0.3",
          "d8066df83a485b3cb3f85808ba9ec45bb2b52a3967dd1cbfd422811215bcea38", ".", False, "2.0.3"),
    Asset("select2.js/select2.min.js", "select2@4.0.5",
          "e756e11dd9e7ca625f6b0f09e409e677f637c5fec30f9fc710667b0afc4d04ee", "dist/js/select2.min.js", True,
          "4.0.5"),
    Asset("select2.js/select2.css", "select2@4.0.5",
          "e756e11dd9e7ca625f6b0f09e409e677f637c5fec30f9fc710667b0afc4d04ee", "dist/css/select2.css", True, "4.0.5"),
    Asset("chartjs/chartjs-plugin-annotation.min.js", "chartjs-plugin-annotation@0.5.7",
          "b2c33993f711416f77de810243be047e0ba290c5280d9abb1a70bcfdfde09e4e", "chartjs-plugin-annotation.min.js",
          True, "0.5.7"),
)


class StageFailed(Exception):
    pass


def say(text: str) -> None:
    print(f"squad-stage: {text}", flush=True)


def check(cond: bool, what: str) -> None:
    if not cond:
        raise StageFailed(what)


def sha(path: Path, algo: str) -> str:
    return hashlib.new(algo, path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- install


def install_squad(build: Path) -> Path:
    venv = build / "venv"
    python = venv / "bin" / "python"
    if not (venv / "bin" / "squad-admin").exists():
        say(f"installing squad=={SQUAD_VERSION} from PyPI into {venv}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"squad=={SQUAD_VERSION}"], check=True)
    out = subprocess.run([str(python), "-c", "import squad, squad.version as v; print(v.__version__); "
                          "print(squad.__file__)"], capture_output=True, text=True, check=True).stdout.split()
    check(out[0] == SQUAD_VERSION, f"squad {out[0]} installed, {SQUAD_VERSION} wanted")
    return Path(out[1]).parent / "frontend" / "static"


def download_conf(static: Path) -> dict[str, tuple[str, str]]:
    """download.conf: destination -> (url, sha1)."""
    entries = {}
    for line in (static / "download.conf").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and not parts[0].startswith("#"):
            entries[parts[0]] = (parts[1], parts[2])
    return entries


def install_assets(static: Path, build: Path) -> None:
    conf = download_conf(static)
    check(set(conf) == {a.destination for a in ASSETS},
          f"SQUAD's download.conf names {sorted(set(conf) ^ {a.destination for a in ASSETS})} differently from "
          "this stage's table")
    npm_dir = build / "npm"
    npm_dir.mkdir(parents=True, exist_ok=True)
    for spec in dict.fromkeys(a.npm for a in ASSETS):
        name, version = spec.rsplit("@", 1)
        tgz = npm_dir / f"{name.replace('/', '-')}-{version}.tgz"
        if not tgz.exists():
            subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(npm_dir), spec], check=True,
                           stdout=subprocess.DEVNULL, timeout=600)
    for a in ASSETS:
        url, sha1 = conf[a.destination]
        check(a.version in url, f"{a.destination}: download.conf's {url} is not version {a.version}")
        name, version = a.npm.rsplit("@", 1)
        tgz = npm_dir / f"{name}-{version}.tgz"
        got = sha(tgz, "sha256")
        check(got == a.sha256, f"{tgz.name}: sha256 {got}, pinned {a.sha256}")
        target = static / a.destination
        with tempfile.TemporaryDirectory() as tmp, tarfile.open(tgz) as tar:
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4+
                tar.extractall(tmp, filter="data")
            else:  # an npm tarball holds package/ only (checked by its pinned digest above)
                tar.extractall(tmp)
            src = Path(tmp) / "package" / a.inside
            if target.is_dir():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, target)
            else:
                shutil.copyfile(src, target)
        if a.same_bytes:
            got1 = sha(target, "sha1")
            check(got1 == sha1, f"{a.destination}: sha1 {got1}, download.conf says {sha1}")
    # SQUAD's own download script runs whenever squad.frontend is imported; its status file says what is
    # installed (destination, URL, SHA-1), so it finds every entry in place and fetches nothing
    (static / "download.status").write_text("".join(f"{d} {url} {sha1}\n" for d, (url, sha1) in conf.items()))
    say(f"{len(ASSETS)} web assets from npm, tarballs verified (sha256), "
        f"{sum(a.same_bytes for a in ASSETS)} files also match download.conf's sha1")


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    venv: Path
    data: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "ENV": "production", "SECRET_KEY": secrets.token_hex(32),
                "DATABASE": f"ENGINE=django.db.backends.sqlite3:NAME={self.data / 'db.sqlite3'}",
                "SQUAD_STATIC_DIR": str(self.data / "static"), "SQUAD_STORAGE_DIR": str(self.data / "storage"),
                "XDG_DATA_HOME": str(self.data / "xdg"), "SQUAD_LOG_LEVEL": "WARNING"}

    def admin(self, *args: str) -> str:
        proc = subprocess.run([str(self.venv / "bin" / "squad-admin"), *args], env=self.env(), capture_output=True,
                              text=True, timeout=600)
        check(proc.returncode == 0, f"squad-admin {' '.join(args)}: {proc.stderr.strip()[-400:]}")
        return proc.stdout

    def start(self) -> None:
        log = (self.data / "server.log").open("wb")
        self.proc = subprocess.Popen([str(self.venv / "bin" / "squad"), "--fast", "--bind",
                                      f"127.0.0.1:{self.port}", "--workers", "1", "--timeout", "300"],
                                     env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            check(self.proc.poll() is None, f"SQUAD exited: {(self.data / 'server.log').read_text()[-600:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/api/version/", timeout=5) as r:
                say(f"SQUAD {r.read().decode().strip()} listening on {self.url}")
                return
            time.sleep(0.5)
        raise StageFailed("SQUAD did not answer within 90 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)


@contextlib.contextmanager
def squad_server(venv: Path, parent: Path) -> Iterator[Server]:
    parent.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="squad-data-", dir=parent))
    server = Server(venv, data, free_port())
    try:
        server.admin("migrate", "-v", "0")
        server.admin("collectstatic", "--no-input", "-v", "0")
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
        say("server stopped, data directory removed")


# --------------------------------------------------------------------------- checks


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def get_bytes(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as r:
        return bytes(r.read())


def kconform(args: list[str], token: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("kconform")
    return subprocess.run([str(exe), "report", *args], env={**os.environ, squad.TOKEN_ENV: token},
                          capture_output=True, text=True, timeout=600)


def expected(sub: squad.Submission, known: set[str]) -> dict[str, int]:
    """SQUAD's statuses for what was sent: a fail that matches a known issue is xfail."""
    out: Counter[str] = Counter()
    for name, t in sub.tests.items():
        out["xfail" if t["result"] == "fail" and name in known else t["result"]] += 1
    return dict(out)


def add_known_issues(server: Server, subs: list[squad.Submission]) -> set[str]:
    """The overridden cases (kconform's known deviations) as SQUAD KnownIssues of their environments, made
    the way a project's maintainer would, before the results arrive; SQUAD then shows them as xfail."""
    issues = []
    for sub in subs:
        names = sub.metadata.get("kconform.overridden", [])
        for name in names if isinstance(names, list) else []:
            issues.append((sub.environment, str(name), sub.tests[str(name)]["log"].splitlines()[0][:1000]))
    if issues:
        server.admin("shell", "-c", (
            "import json\n"
            "from squad.core.models import KnownIssue, Project\n"
            f"p = Project.objects.get(group__slug={GROUP!r}, slug={PROJECT!r})\n"
            f"for env, name, title in json.loads({json.dumps(issues)!r}):\n"
            "    e, _ = p.environments.get_or_create(slug=env)\n"
            "    KnownIssue.objects.create(title=title, test_name=name).environments.add(e)\n"))
    return {name for _, name, _ in issues}


def read_back(base: str, testrun: str, sub: squad.Submission, known: set[str]) -> Counter[str]:
    """The test run as SQUAD's REST API gives it back, compared with what was sent."""
    statuses: Counter[str] = Counter()
    names: set[str] = set()
    url: str | None = f"{base}/api/testruns/{testrun}/tests/?limit=500"
    while url:
        page = get_json(url)
        for t in page["results"]:
            statuses[t["status"]] += 1
            names.add(t["name"])
        url = page.get("next")
    check(dict(statuses) == expected(sub, known),
          f"test run {testrun}: SQUAD has {dict(statuses)}, kconform sent {sub.counts()} ({len(known)} known issues)")
    check(names == set(sub.tests), f"test run {testrun}: names differ: {sorted(names ^ set(sub.tests))[:5]}")
    run = get_json(f"{base}/api/testruns/{testrun}/")
    meta = get_json(f"{base}/api/testruns/{testrun}/metadata_file/")
    check(meta == sub.metadata, f"test run {testrun}: metadata differs: "
          f"{sorted(k for k in meta.keys() | sub.metadata.keys() if meta.get(k) != sub.metadata.get(k))}")
    check(str(run.get("job_id")) == sub.job_id, f"test run {testrun}: job_id {run.get('job_id')}")
    check(run.get("job_status") == sub.metadata["job_status"],
          f"test run {testrun}: job_status {run.get('job_status')}")
    metrics = get_json(f"{base}/api/testruns/{testrun}/metrics/?limit=50")["results"]
    got = {m["name"]: m["result"] for m in metrics}
    want = {k: v["value"] for k, v in sub.metrics.items()}
    check(got.keys() == want.keys() and all(abs(float(got[k]) - float(str(want[k]))) < 1e-6 for k in want),
          f"test run {testrun}: metrics {got}, sent {want}")
    files = {a["filename"] for a in run["attachments"]}
    check(files == {a.filename for a in sub.attachments}, f"test run {testrun}: attachments {sorted(files)}")
    for a in sub.attachments:
        data = get_bytes(f"{base}/api/testruns/{testrun}/attachments/?filename={a.filename}")
        check(data == a.data, f"test run {testrun}: attachment {a.filename} differs ({len(data)} bytes)")
    return statuses


def stage(ns: argparse.Namespace) -> int:
    out = Path(ns.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    build = (REPO / "build" / "squad").resolve()
    static = install_squad(build)
    install_assets(static, build)
    if browser.chromium() is None:
        raise StageFailed("chromium is not installed (apt-get install chromium)")
    with squad_server(build / "venv", build / "run") as server:
        token = server.admin("get_token", f"{GROUP}/{PROJECT}").strip().splitlines()[-1]
        check(re.fullmatch(r"[0-9a-f]{40}", token) is not None, "get_token printed no token")
        say(f"group {GROUP}, project {PROJECT} and a submitter token made with squad-admin get_token")
        subs = [squad.submission(r.record, Path(r.source)) for r in collect(ns.runs).runs]
        known = add_known_issues(server, subs)
        say(f"{len(known)} known issue(s) for the overridden cases (squad-admin shell)")
        server.start()
        base = server.url
        target = ["--squad", base, "--squad-group", GROUP, "--squad-project", PROJECT]

        # the mistakes first: nothing may reach the server
        bad = kconform([*target, *ns.runs], "not-a-token")
        check(bad.returncode == 3 and "refused the token" in bad.stderr and bad.stderr.count("\n") == 1,
              f"a refused token: exit {bad.returncode}, {bad.stderr!r}")
        say(f"refused token: exit 3, {bad.stderr.strip()}")
        bad = kconform(["--squad", "ftp://127.0.0.1/", "--squad-group", GROUP, "--squad-project", PROJECT,
                        *ns.runs], token)
        check(bad.returncode == 2 and bad.stderr.count("\n") == 1, f"a bad URL: exit {bad.returncode}")
        say(f"bad URL: exit 2, {bad.stderr.strip()}")
        check(not get_json(f"{base}/api/testruns/")["results"], "a refused submission left a test run")

        done = kconform([*target, *ns.runs], token)
        print(done.stdout, end="")
        check(done.returncode == 0, f"kconform report --squad: exit {done.returncode}: {done.stderr.strip()}")
        ids = re.findall(r"test run (\d+)", done.stdout)
        check(len(ids) == len(subs) == len(ns.runs), f"{len(ids)} test runs made for {len(ns.runs)} inputs")
        summary = []
        for testrun, sub in zip(ids, subs, strict=True):
            statuses = read_back(base, testrun, sub, known)
            summary.append(f"{sub.build}/{sub.environment}: test run {testrun}, "
                           + ", ".join(f"{k} {statuses[k]}" for k in ("pass", "fail", "skip", "xfail")))
            say("read back " + summary[-1] + " (= sent), metadata, metrics, attachments equal")

        again = kconform([*target, *ns.runs], token)
        check(again.returncode == 0 and again.stdout.count("already there") == len(subs),
              f"resubmission: exit {again.returncode}, {again.stdout!r}")
        check(len(get_json(f"{base}/api/testruns/")["results"]) == len(subs), "a resubmission added test runs")
        say("the same runs again: SQUAD refused the duplicate job_ids, nothing counted twice")

        for sub in subs:
            # every suite, not only failing ones (the default for a visitor), as suites x environments
            page = f"{base}/{GROUP}/{PROJECT}/build/{sub.build}/?failures_only=false&results_layout=table"
            text, _ = browser.visible(browser.dump_dom(page, budget_ms=10000))
            (out / f"squad-build-{sub.build}.txt").write_text(text + "\n")
            suites = sorted({name.split("/", 1)[0] for name in sub.tests})
            counts = [f"{n} {k}" for k, n in expected(sub, known).items()]
            for want in (f"Build {sub.build}", sub.environment, f"{len(sub.tests)} tests", *counts, *suites):
                check(want in text, f"the build page {page} does not show {want!r} (its text: "
                      f"{out}/squad-build-{sub.build}.txt)")
            shot = out / f"squad-build-{sub.build}.png"
            browser.screenshot(page, shot, budget_ms=10000)
            say(f"{page} shows the build, its counts, environment and suites; screenshot {shot}")
        (out / "summary.txt").write_text("\n".join(summary) + "\n")
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", default=str(REPO / "build" / "check" / "squad"), help="screenshots and summary")
    ap.add_argument("runs", nargs="+", help="run records or VM result directories to submit (one each)")
    ns = ap.parse_args(argv)
    from conformance.host.usage import UsageError

    try:
        return stage(ns)
    except (StageFailed, UsageError, RuntimeError, subprocess.SubprocessError) as e:
        print(f"squad-stage: FAILED: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
