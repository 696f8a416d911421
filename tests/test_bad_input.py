"""The bad-input battery: every malformed invocation of run, vm, kernels and report gives exit status 2,
exactly one line on stderr (no traceback, no usage text), and creates no file.

Each runs the real command line in a subprocess (pytest's own usage errors and "nothing selected"
included); the working directory and the output directory must be unchanged afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import kc

DATA = Path(__file__).parent / "data"

# (id, argv with {d} = the scratch directory, {w} = the working directory, substring of the one line)
BATTERY: list[tuple[str, list[str], str]] = [
    ("family-dotdot", ["run", "--family", ".."], "unknown family '..'"),
    ("family-empty", ["run", "--family", ""], "unknown family ''"),
    ("family-unknown", ["run", "--family", "nosuch"], "unknown family 'nosuch'"),
    ("family-path", ["run", "--family", "../cases/clone3"], "unknown family"),
    ("k-and-or", ["run", "-k", "and or"], "-k 'and or' is not a valid expression"),
    ("k-empty", ["run", "-k", ""], "-k needs a non-empty expression"),
    ("k-open-paren", ["run", "-k", "size("], "is not a valid expression"),
    ("k-nothing-matches", ["run", "-k", "nosuchcase"], "no case matched -k 'nosuchcase'"),
    ("k-nothing-matches-with-reports", ["run", "-k", "nosuchcase", "--junit", "{d}/n.xml", "--json", "{d}/n.json"],
     "no case matched -k 'nosuchcase'"),
    ("pytest-bogus-option", ["run", "--", "--bogus"], "unrecognized arguments: --bogus"),
    ("pytest-bogus-option-with-reports", ["run", "--ktap", "{d}/b.ktap", "--", "--bogus"], "unrecognized arguments"),
    ("timeout-nan", ["run", "--timeout", "nan"], "--timeout must be a finite number"),
    ("timeout-inf", ["run", "--timeout", "inf"], "--timeout must be a finite number"),
    ("timeout-negative", ["run", "--timeout", "-1"], "--timeout must be a finite number"),
    ("timeout-zero", ["run", "--timeout", "0"], "--timeout must be a finite number"),
    ("timeout-word", ["run", "--timeout", "abc"], "invalid float value"),
    ("shard-zero", ["run", "--shard", "0/2"], "--shard must be K/N with 1 <= K <= N"),
    ("shard-beyond", ["run", "--shard", "3/2"], "--shard must be K/N with 1 <= K <= N"),
    ("shard-word", ["run", "--shard", "half"], "--shard must be K/N"),
    ("kc-shard-under-pytest", ["run", "--", "--kc-shard", "1/0"], "--kc-shard must be K/N"),
    ("allow-change-unknown", ["run", "--allow-change", "kernel.nosuch"], "not a setting any row needs permission"),
    ("kc-allow-change-unknown", ["run", "--", "--kc-allow-change", "kernel.nosuch"], "--kc-allow-change kernel.nosuch"),
    ("n-negative", ["run", "-n", "-3"], "-n must be a number of workers"),
    ("n-zero", ["run", "-n", "0"], "-n must be a number of workers"),
    ("n-word", ["run", "-n", "two"], "-n must be a number of workers"),
    ("junit-proc", ["run", "--junit", "/proc/version"], "is not writable"),
    ("json-dev-full", ["run", "--json", "/dev/full"], "is a character device"),
    ("junit-empty", ["run", "--junit", ""], "--junit path is empty"),
    ("junit-directory", ["run", "--junit", "{d}"], "is a directory"),
    ("ktap-no-parent", ["run", "--ktap", "/nonexistent-dir/x.ktap"], "does not exist"),
    ("junit-is-json", ["run", "--junit", "{d}/r", "--json", "{d}/r"], "name the same file"),
    ("junit-is-expectations", ["run", "--junit", "{d}/good.toml", "--expectations", "{d}/good.toml"],
     "name the same file"),
    ("expectations-missing", ["run", "--expectations", "/nonexistent.toml"], "does not exist"),
    ("expectations-directory", ["run", "--expectations", "{d}"], "is a directory"),
    ("expectations-binary", ["run", "--expectations", "{d}/binary.toml"], "not UTF-8"),
    ("expectations-nul", ["run", "--expectations", "{d}/nul.toml"], "binary data"),
    ("expectations-latin1", ["run", "--expectations", "{d}/latin1.toml"], "not UTF-8"),
    ("expectations-case-list", ["run", "--expectations", "{d}/list.toml"], "list.toml:6: 'case' must be a string"),
    ("expectations-bad-toml", ["run", "--expectations", "{d}/bad.toml"], "bad.toml"),
    ("expectations-unknown-key", ["run", "--expectations", "{d}/key.toml"], "unknown key 'colour'"),
    ("expectations-dev-null", ["run", "--expectations", "/dev/null"], "is a character device"),
    ("label-empty", ["run", "--label", ""], "--label must be"),
    ("label-newline", ["run", "--label", "a\nb"], "--label must be"),
    ("run-unknown-option", ["run", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    ("unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'"),
    ("no-command", [], "a command is needed"),
    ("behaviours-extra", ["behaviours", "--", "x"], "behaviours takes no arguments"),
    ("vm-kernel-passwd", ["vm", "--kernel", "/etc/passwd"], "not a kernel image"),
    ("vm-no-kernel", ["vm"], "--kernel"),
    ("vm-jobs-zero", ["vm", "--kernel", "debian:6.12", "-j", "0"], "-j must be at least 1"),
    ("vm-shards-negative", ["vm", "--kernel", "debian:6.12", "--shards", "-1"], "--shards must be at least 1"),
    ("vm-cpus-negative", ["vm", "--kernel", "debian:6.12", "--cpus", "-2"], "--cpus must be at least 1"),
    ("vm-timeout-nan", ["vm", "--kernel", "debian:6.12", "--timeout", "nan"], "--timeout must be a finite number"),
    ("vm-debian-empty", ["vm", "--kernel", "debian:"], "a Debian spec is debian:<version or suite>"),
    ("vm-debian-space", ["vm", "--kernel", "debian:6 12"], "a Debian spec is debian:<version or suite>"),
    ("vm-kernel-missing", ["vm", "--kernel", "/nonexistent/vmlinuz"], "unknown kernel spec"),
    ("vm-out-is-file", ["vm", "--kernel", "debian:6.12", "--out", "/etc/passwd"], "is not a directory"),
    ("vm-memory-word", ["vm", "--kernel", "debian:6.12", "--memory", "lots"], "--memory must be a size"),
    ("vm-cpus-negative", ["vm", "--kernel", "debian:6.12", "--cpus", "-1"], "--cpus must be"),
    ("vm-backend-unknown", ["vm", "--kernel", "debian:6.12", "--backend", "nope"], "invalid choice: 'nope'"),
    ("kernels-no-subcommand", ["kernels"], "required"),
    ("kernels-fetch-nothing", ["kernels", "fetch"], "required"),
    ("kernels-fetch-empty", ["kernels", "fetch", ""], "kernel spec is empty"),
    ("kernels-fetch-debian-slash", ["kernels", "fetch", "debian:../x"], "a Debian spec is debian:<version or suite>"),
    ("kernels-fetch-passwd", ["kernels", "fetch", "/etc/passwd"], "not a kernel image"),
    ("kernels-unknown", ["kernels", "bogus"], "invalid choice: 'bogus'"),
    ("report-nothing", ["report"], "required"),
    ("report-dev-null", ["report", "/dev/null"], "/dev/null is a character device"),
    ("report-missing", ["report", "/nonexistent.json"], "/nonexistent.json does not exist"),
    ("report-empty-file", ["report", "{d}/empty.json"], "is empty"),
    ("report-binary", ["report", "{d}/binary.json"], "cannot read JSON"),
    ("report-truncated", ["report", "{d}/truncated.json"], "cannot read JSON"),
    ("report-empty-dir", ["report", "{d}/emptydir"], "no kconform runs found"),
    ("report-html-is-input", ["report", "{d}/run.json", "--html", "{d}/run.json"], "is one of the report's inputs"),
    ("report-html-proc", ["report", "{d}/run.json", "--html", "/proc/x.html"], "is not writable"),
    ("report-html-is-markdown", ["report", "{d}/run.json", "--html", "{d}/m", "--markdown", "{d}/m"],
     "name the same file"),
    # what the clocks can hold, what can run at all, and values that looked valid to a looser check
    ("timeout-huge", ["run", "--timeout", "1e10"], "--timeout must be between 0.001 and 2147483 seconds"),
    ("timeout-tiny", ["run", "--timeout", "1e-300"], "--timeout must be between 0.001 and 2147483 seconds"),
    ("kc-timeout-huge-under-pytest", ["run", "--", "--kc-timeout", "1e10"], "--kc-timeout must be between"),
    ("shard-empty", ["run", "--shard", ""], "--shard needs K/N"),
    ("shard-superscript", ["run", "--shard", "\u00b2/\u00b2"], "--shard must be K/N with 1 <= K <= N"),
    ("k-nested-500", ["run", "-k", "(" * 500 + "a" + ")" * 500], "-k expression nested too deeply"),
    ("tmpdir-too-long", ["run"], "the fixture trees need a TMPDIR of at most 160 bytes"),
    ("vm-origin-empty", ["vm", "--kernel", "debian:6.12", "--kcidb-origin", ""], "KCIDB origin ''"),
    ("vm-origin-space", ["vm", "--kernel", "debian:6.12", "--kcidb-origin", "a b"], "KCIDB origin 'a b'"),
    ("vm-kernel-dev-zero", ["vm", "--kernel", "/dev/zero"], "kernel image /dev/zero is not a regular file"),
    ("vm-timeout-huge", ["vm", "--kernel", "debian:6.12", "--timeout", "1e10"], "--timeout must be between"),
    ("vm-cache-is-file", ["vm", "--kernel", "debian:6.12"], "KCONFORM_CACHE {d}/good.toml is not a directory"),
    ("vm-cache-read-only", ["vm", "--kernel", "debian:6.12"], "KCONFORM_CACHE /sys is not writable"),
    ("vm-env-mirror-not-url", ["vm", "--kernel", "debian:6.12"], "$KCONFORM_DEBIAN_MIRROR must be an archive URL"),
    ("kernels-fetch-cache-is-file", ["kernels", "fetch", "debian:6.12"], "is not a directory"),
    ("kernels-fetch-cache-read-only", ["kernels", "fetch", "debian:6.12"], "KCONFORM_CACHE /sys is not writable"),
    ("kernels-fetch-mirror-not-url", ["kernels", "fetch", "--mirror", "not-a-url", "debian:6.12"],
     "--mirror must be an archive URL"),
    ("kernels-list-mirror-not-url", ["kernels", "list", "--available", "--mirror", "not-a-url"],
     "--mirror must be an archive URL"),
]

# Rows run with more in their environment ({d} = the scratch directory).
ENV: dict[str, dict[str, str]] = {
    "tmpdir-too-long": {"TMPDIR": "{d}/" + "t" * 160},
    "vm-cache-is-file": {"KCONFORM_CACHE": "{d}/good.toml"},
    "vm-cache-read-only": {"KCONFORM_CACHE": "/sys"},
    "vm-env-mirror-not-url": {"KCONFORM_DEBIAN_MIRROR": "not-a-url"},
    "kernels-fetch-cache-is-file": {"KCONFORM_CACHE": "{d}/good.toml"},
    "kernels-fetch-cache-read-only": {"KCONFORM_CACHE": "/sys"},
}
# Every row: a kernel cache that does not exist yet (anything fetched or unpacked would appear in the
# listing) and a mirror that refuses at once: nothing downloads, boots or waits.
BASE_ENV = {"KCONFORM_CACHE": "{d}/cache", "KCONFORM_DEBIAN_MIRROR": "http://127.0.0.1:1/debian",
            "KCONFORM_DEBIAN_SECURITY_MIRROR": "http://127.0.0.1:1/debian-security"}
FAST_S = 30.0  # a row fails in the argument check: seconds of Python start-up, never a boot or a download

EXPECT_HEAD = '[[expect]]\nbehaviour = "clone3.newtime"\nrelease = ".*"\nreason = "r"\nreference = "ref"\n'


def _inputs(d: Path) -> None:
    (d / "good.toml").write_text(EXPECT_HEAD)
    (d / "binary.toml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    (d / "nul.toml").write_bytes(b"[[expect]]\n\0\0\0")
    (d / "latin1.toml").write_bytes(EXPECT_HEAD.replace('"r"', '"caf\xe9"').encode("latin-1"))
    (d / "list.toml").write_text(EXPECT_HEAD + 'case = ["a"]\n')
    (d / "bad.toml").write_text("[[expect]\nbehaviour = \n")
    (d / "key.toml").write_text(EXPECT_HEAD + 'colour = "blue"\n')
    (d / "empty.json").write_text("")
    (d / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (d / "truncated.json").write_text('{"properties": {')
    (d / "emptydir").mkdir()
    (d / "run.json").write_text((DATA / "run-6.18.json").read_text())
    (d / ("t" * 160)).mkdir()  # a TMPDIR that exists (else Python falls back to /tmp) and is too long


def _listing(*dirs: Path) -> set[str]:
    return {str(p) for d in dirs for p in d.rglob("*")}


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> kc.Done:
    start = time.monotonic()
    p = subprocess.run([*kc.KCONFORM, *argv], cwd=cwd, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, env={**os.environ, **env})
    SECONDS[argv[0] if argv else ""] = max(SECONDS.get(argv[0] if argv else "", 0.0), time.monotonic() - start)
    return kc.Done(p.returncode, p.stdout, p.stderr)


SECONDS: dict[str, float] = {}  # command -> the slowest row of it


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[kc.Done, bool]]:
    d, w = tmp_path_factory.mktemp("inputs"), tmp_path_factory.mktemp("cwd")
    _inputs(d)
    before = _listing(d, w)

    def one(item: tuple[str, list[str], str]) -> tuple[str, kc.Done]:
        name, argv, _ = item
        env = {k: v.replace("{d}", str(d)) for k, v in {**BASE_ENV, **ENV.get(name, {})}.items()}
        return name, _run([a.replace("{d}", str(d)).replace("{w}", str(w)) for a in argv], w, env)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        done = dict(pool.map(one, BATTERY))
    created = _listing(d, w) - before
    return {name: (r, bool(created)) for name, r in done.items()} | {"__created__": (kc.Done(0, "", ""),
                                                                                      bool(created))}


def test_battery_is_large_enough() -> None:
    commands = {argv[0] for _, argv, _ in BATTERY if argv}
    assert len(BATTERY) >= 40 and {"run", "vm", "kernels", "report"} <= commands


@pytest.mark.parametrize(("name", "argv", "needle"), BATTERY, ids=[b[0] for b in BATTERY])
def test_bad_input(results: dict[str, tuple[kc.Done, bool]], name: str, argv: list[str], needle: str) -> None:
    done, _ = results[name]
    lines = done.err.strip().splitlines()
    assert done.rc == 2, (done.rc, done.err[-1500:])
    assert len(lines) == 1 and lines[0].startswith("kconform: error: "), done.err[-1500:]
    assert "Traceback" not in done.err and needle.replace("{d}", "") in lines[0].replace(_scratch(lines[0]), ""), \
        lines[0]


def _scratch(line: str) -> str:
    """The scratch directory's path in a message (the rows' needles write it as {d})."""
    m = re.search(r"/\S*/inputs\d*", line)
    return m.group(0) if m else "\0"


def test_bad_vm_and_kernels_input_fails_fast(results: dict[str, tuple[kc.Done, bool]]) -> None:
    """vm and kernels rows end in the argument check: nothing boots or downloads (each took seconds)."""
    assert SECONDS and max(SECONDS.get("vm", 0.0), SECONDS.get("kernels", 0.0)) < FAST_S, SECONDS


def test_battery_created_no_file(results: dict[str, tuple[kc.Done, bool]]) -> None:
    assert not results["__created__"][1]
