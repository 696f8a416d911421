"""The bad-input battery: every malformed invocation of run, vm, kernels and report gives exit status 2,
exactly one line on stderr (no traceback, no usage text), and creates no file.

Each runs the real command line in a subprocess (pytest's own usage errors and "nothing selected"
included); the working directory and the output directory must be unchanged afterwards.
"""

from __future__ import annotations

import os
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
]

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


def _listing(*dirs: Path) -> set[str]:
    return {str(p) for d in dirs for p in d.rglob("*")}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[kc.Done, bool]]:
    d, w = tmp_path_factory.mktemp("inputs"), tmp_path_factory.mktemp("cwd")
    _inputs(d)
    before = _listing(d, w)

    def one(item: tuple[str, list[str], str]) -> tuple[str, kc.Done]:
        name, argv, _ = item
        return name, kc.run([a.replace("{d}", str(d)).replace("{w}", str(w)) for a in argv], w, timeout=120)

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
    assert "Traceback" not in done.err and needle in lines[0], lines[0]


def test_battery_created_no_file(results: dict[str, tuple[kc.Done, bool]]) -> None:
    assert not results["__created__"][1]
