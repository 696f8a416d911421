"""A run in N parts (--shard K/N), and the parts made one run again (results.merge, the VM runner)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.suite import costs, registry
from conformance.suite.results import CaseRecord, RunRecord, merge
from conformance.suite.shard import Shard, Unit, parse_shard, plan
from conformance.suite.verdict import Verdict
from conformance.vm import backends, runner
from conformance.vm.kernels import Kernel
from tests.helpers import kc

SUBSET = ["--family", "clone3", "-k", "size or flags"]


def test_parse_shard() -> None:
    assert parse_shard("") == Shard(1, 1) and parse_shard("2/3") == Shard(2, 3) and str(Shard(2, 3)) == "2/3"
    for bad in ("0/1", "2/1", "1/0", "1", "a/b", "1/2/3", "-1/2", " 1/2"):
        with pytest.raises(ValueError, match="K/N"):
            parse_shard(bad)


def _synthetic(count: int = 400, seed: int = 7) -> list[Unit]:
    """A cost table like the suite's: many cheap items, some dear ones, a few of the one-part group."""
    rnd = random.Random(seed)
    units = [Unit(f"t{i // 50}::row[{i}]", rnd.choice((5, 20, 40, 80)) if i % 23 else rnd.randint(500, 5000),
                  together=i % 61 == 0) for i in range(count)]
    return units


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_plan_is_disjoint_complete_and_balanced(n: int) -> None:
    units = _synthetic()
    parts = plan(units, n)
    assert set(parts) == {u.key for u in units} and set(parts.values()) <= set(range(1, n + 1))  # each once
    loads = [sum(u.cost_ms for u in units if parts[u.key] == k) for k in range(1, n + 1)]
    group = sum(u.cost_ms for u in units if u.together)
    assert {parts[u.key] for u in units if u.together} == {1}
    # longest processing time first: no part exceeds the mean by more than the dearest item not in the group
    # (the group is placed first, so part 1 may hold more when the group alone exceeds the mean)
    dearest = max(u.cost_ms for u in units if not u.together)
    assert max(loads) <= max(sum(loads) / n + dearest, group), loads
    assert max(loads) - min(loads) <= dearest or n == 1 or loads[0] == group


def test_plan_ignores_the_order_and_refuses_shared_keys() -> None:
    units = _synthetic()
    shuffled = list(units)
    random.Random(1).shuffle(shuffled)
    assert plan(units, 3) == plan(shuffled, 3) == plan(reversed(units), 3)
    assert plan([], 2) == {}
    with pytest.raises(ValueError):
        plan([Unit("a", 1), Unit("a", 2)], 2)
    with pytest.raises(ValueError):
        plan(units, 0)


def test_plan_beats_the_positional_split_on_uneven_tables() -> None:
    """The old split (every N-th row) put a table's dear rows in one part when they sat at even places."""
    units = [Unit(f"r{i}", 1000 if i % 2 == 0 and i < 20 else 10) for i in range(200)]
    parts = plan(units, 2)
    loads = [sum(u.cost_ms for u in units if parts[u.key] == k) for k in (1, 2)]
    assert abs(loads[0] - loads[1]) <= 10


def test_the_cost_table() -> None:
    """The checked-in table parses, names cases of the suite, and falls back by behaviour, then family."""
    est = costs.load()
    assert est.by_case and est.item_ms >= 0 and est.default >= 1
    some = next(iter(est.by_case))
    behaviour, case_id = some.split(" ", 1)
    assert est.estimate(behaviour, case_id) == est.by_case[some] + est.item_ms
    assert est.estimate(behaviour, "no-such-row") == est.by_behaviour[behaviour] + est.item_ms
    family = behaviour.split(".", 1)[0]
    assert est.estimate(f"{family}.no_such_behaviour", "x") == est.by_family[family] + est.item_ms
    assert est.estimate("nofamily.x", "y") == est.default + est.item_ms
    for bad in ({}, {"cases_ms": {"a b": 0}}, {"cases_ms": {"a b": True}}, {"cases_ms": {}, "item_ms": -1}):
        with pytest.raises(ValueError):
            costs.parse(bad)


def test_parts_are_the_same_whatever_the_collection_order(tmp_path: Path) -> None:
    """Two processes that collect the families in opposite orders make the same parts, which are disjoint
    and make up the selection (-k included)."""
    root = registry.cases_dir()
    dirs = [str(root / f) for f in ("clone3", "fchroot", "vhost")]
    sel = ["-k", "not exit"]
    a = [_collected(tmp_path, [*dirs, *sel], k) for k in (1, 2, 3)]
    b = [_collected(tmp_path, [*reversed(dirs), *sel], k) for k in (1, 2, 3)]
    assert a == b
    every = _collected(tmp_path, [*dirs, *sel], 0)
    assert all(a) and not (a[0] & a[1] or a[0] & a[2] or a[1] & a[2]) and a[0] | a[1] | a[2] == every
    assert every and not any("exit" in i.split("[", 1)[1] for i in every)


def _collected(tmp_path: Path, args: list[str], k: int) -> set[str]:
    """The node ids part k of 3 collects (k 0: the whole selection), pytest itself collecting the paths in
    the order given."""
    root = registry.cases_dir()
    shard = ["--kc-shard", f"{k}/3"] if k else []
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--rootdir", str(root),
                           "-p", "no:cacheprovider", "--import-mode=importlib", *shard, *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return {line.strip() for line in done.stdout.splitlines() if "::" in line}


def test_shards_are_disjoint_and_make_up_the_run(tmp_path: Path) -> None:
    whole = kc.run(["run", "-q", *SUBSET, "--json", str(tmp_path / "whole.json")], tmp_path)
    assert whole.rc == 0, whole.err
    parts = []
    for k in (1, 2, 3):
        done = kc.run(["run", "-q", *SUBSET, "--shard", f"{k}/3", "--json", str(tmp_path / f"{k}.json")], tmp_path)
        assert done.rc == 0, done.err
        parts.append(RunRecord.load(tmp_path / f"{k}.json"))
    ids = [{c.nodeid for c in p.cases} for p in parts]
    assert all(ids) and not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert [p.properties["run.shard"] for p in parts] == ["1/3", "2/3", "3/3"]
    one = RunRecord.load(tmp_path / "whole.json")
    merged = merge(parts)
    assert {c.nodeid: c.verdict for c in merged.cases} == {c.nodeid: c.verdict for c in one.cases}
    assert "run.shard" not in merged.properties and merged.properties["run.shards"] == "3"
    assert merged.properties["kernel.release"] == one.properties["kernel.release"]


def _part(shard: str, props: dict[str, str], *cases: CaseRecord) -> RunRecord:
    return RunRecord({"kernel.release": "6.1", "run.shard": shard, **props}, list(cases))


def test_merge_properties_and_interrupted_parts() -> None:
    a = _part("1/2", {"run.started": "2026-01-01T00:00:02", "run.duration_s": "9.5", "run.complete": "yes"},
              CaseRecord("x::a", "f.b", "a"), CaseRecord("h::interrupted", "kconform.harness", "interrupted",
                                                        Verdict.ERROR, "run incomplete: killed"))
    b = _part("2/2", {"run.started": "2026-01-01T00:00:01", "run.duration_s": "10.25", "run.complete": "no",
                      "run.not_run": "3", "run.status": "interrupted by SIGTERM"},
              CaseRecord("x::b", "f.b", "b", Verdict.FAIL, "wrong"),
              CaseRecord("h::interrupted", "kconform.harness", "interrupted", Verdict.ERROR, "by SIGTERM"))
    run = merge([a, b])
    p = run.properties
    assert p["run.started"] == "2026-01-01T00:00:01" and p["run.duration_s"] == "10.25"
    assert p["run.complete"] == "no" and p["run.status"] == "; interrupted by SIGTERM" and p["run.not_run"] == "; 3"
    assert [c.nodeid for c in run.cases] == ["x::a", "x::b", "h::interrupted"]
    harness = run.cases[-1]
    assert harness.verdict is Verdict.ERROR and harness.message == "1/2: run incomplete: killed; 2/2: by SIGTERM"
    with pytest.raises(ValueError):
        merge([])


def test_one_part_is_the_run() -> None:
    one = RunRecord({"kernel.release": "6.1", "run.complete": "yes"}, [CaseRecord("x::a", "f.b", "a")])
    assert merge([one]) == one


# --------------------------------------------------------------------------- the guest's script and the host's merge


def _kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kernel:
    from tests.test_vm import _elf

    monkeypatch.setenv("KCONFORM_CACHE", str(tmp_path / "cache"))
    img = tmp_path / "k.elf"
    img.write_bytes(_elf(pvh=True))
    return Kernel("k", img, None, "6.1.0-test", None, "0" * 16)


def test_guest_script_runs_the_shards_at_once(tmp_path: Path) -> None:
    """The script the guest runs, run here: two parts at once, merged by the host into run.json and junit.xml."""
    out = tmp_path / "out"
    out.mkdir()
    script = out / "run.sh"
    script.write_text(runner.guest_script(out, "k", SUBSET, None, shards=2))
    text = script.read_text()
    assert "-m conformance.cli.parts --parts 2" in text  # one interpreter forks both parts
    done = subprocess.run(["/bin/sh", str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout, done.stderr, [p.read_text() for p in out.glob("guest-stdout-*")])
    parts = runner.load_shards(out, 2)
    assert not isinstance(parts, str), parts
    run = runner.merge_shards(out, parts)
    assert not list(out.glob("run-*.json"))
    saved = json.loads((out / "run.json").read_text())
    assert len(saved["cases"]) == len(run.cases) > 10 and saved["properties"]["run.shards"] == "2"
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", "0")) == len(run.cases)


def _fake_guest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: dict[int, RunRecord], rc: int = 0) -> None:
    """A backend whose "guest" writes the console markers, its exit code and the given shards' records."""
    def launch(self: backends.QemuDirect, kernel: Kernel, cfg: backends.VmConfig, outdir: Path) -> backends.Launch:
        for k, run in write.items():
            run.save(tmp_path / f"part-{k}.json")
        copies = "; ".join(f"cp {tmp_path}/part-{k}.json {outdir}/run-{k}.json" for k in write)
        sh = (f"echo 'KC[1.00] cmd-start' >&2; {copies or 'true'}; echo {rc} > {outdir}/exitcode; "
              f"echo 'KC[2.50] cmd-end rc={rc}' >&2")
        return backends.Launch(["/bin/sh", "-c", sh], console_on_stdout=True)

    monkeypatch.setattr(backends.QemuDirect, "launch", launch)


def _shard(k: int, complete: str = "yes") -> RunRecord:
    props = {"kernel.release": "6.1.0-test", "run.label": "k", "run.shard": f"{k}/2", "run.complete": complete}
    return RunRecord(props, [CaseRecord(f"c::{k}", "clone3.basic", f"case-{k}")])


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> runner.VmResult:
    return runner.run_kernel(_kernel(tmp_path, monkeypatch), backends.VmConfig(shards=2), tmp_path / "out",
                             lambda m: None)


def test_the_host_merges_the_guests_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_guest(tmp_path, monkeypatch, {1: _shard(1), 2: _shard(2)})
    res = _run(tmp_path, monkeypatch)
    assert res.outcome is runner.Outcome.PASSED and res.counts[Verdict.PASS] == 2 and res.suite_s == 1.5
    assert [c["name"] for c in json.loads((tmp_path / "out/run.json").read_text())["cases"]] == ["case-1", "case-2"]


def test_a_missing_part_is_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_guest(tmp_path, monkeypatch, {1: _shard(1)})
    res = _run(tmp_path, monkeypatch)
    assert res.outcome is runner.Outcome.CRASH and "no run-2.json" in res.detail
    run = json.loads((tmp_path / "out/run.json").read_text())
    assert [c["verdict"] for c in run["cases"]] == ["error"]  # never a green half


def test_an_unfinished_part_is_never_green(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.runner import outputs

    killed = outputs.provisional({"kernel.release": "6.1.0-test", "run.label": "k", "run.shard": "2/2"})
    _fake_guest(tmp_path, monkeypatch, {1: _shard(1), 2: killed}, rc=0)
    res = _run(tmp_path, monkeypatch)
    assert res.outcome is runner.Outcome.FAILED and res.counts[Verdict.ERROR] == 1
    assert json.loads((tmp_path / "out/run.json").read_text())["properties"]["run.complete"] == "no"


def test_every_part_empty_is_not_a_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = {k: RunRecord({"kernel.release": "6.1.0-test", "run.shard": f"{k}/2"}, []) for k in (1, 2)}
    _fake_guest(tmp_path, monkeypatch, empty)
    res = _run(tmp_path, monkeypatch)
    assert res.outcome is runner.Outcome.CRASH and "no case of the selection ran in any of the 2" in res.detail


def test_an_unreadable_part_is_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_guest(tmp_path, monkeypatch, {1: _shard(1), 2: _shard(2)})
    real = backends.QemuDirect.launch

    def truncating(self: backends.QemuDirect, kernel: Kernel, cfg: backends.VmConfig, outdir: Path) -> backends.Launch:
        launch = real(self, kernel, cfg, outdir)
        launch.cmd[-1] += f"; echo '{{\"properties\": ' > {outdir}/run-2.json"
        return launch

    monkeypatch.setattr(backends.QemuDirect, "launch", truncating)
    res = _run(tmp_path, monkeypatch)
    assert res.outcome is runner.Outcome.CRASH and "run-2.json unreadable" in res.detail


def test_a_part_without_cases_of_a_narrow_selection(tmp_path: Path) -> None:
    """A part that holds none of the selection says so, exits 0 and writes an empty record (another part
    may hold the cases; the merge of parts that are all empty is the error, above)."""
    done = kc.run(["run", "-q", "--family", "clone3", "-k", "nosuchcase", "--shard", "2/3", "--json",
                   str(tmp_path / "p.json")], tmp_path)
    assert done.rc == 0 and "part 2/3 holds no case of this selection" in done.err
    assert RunRecord.load(tmp_path / "p.json").cases == []
    whole = kc.run(["run", "-q", "--family", "clone3", "-k", "nosuchcase", "--json", str(tmp_path / "w.json")],
                   tmp_path)
    assert whole.rc == 2 and not (tmp_path / "w.json").exists()  # unsharded, nothing matched is bad input


def test_parts_get_their_own_record_and_shard_before_the_pytest_args(tmp_path: Path) -> None:
    from conformance.cli import parts

    run = ["run", "--label", "k", "--family", "clone3", "--", "-p", "no:foo"]
    assert parts.part_argv(run, tmp_path, 2, 3) == [
        "run", "--label", "k", "--family", "clone3", "--json", str(tmp_path / "run-2.json"), "--shard", "2/3",
        "--", "-p", "no:foo"]
    assert parts.part_argv(["run"], tmp_path, 1, 1) == ["run", "--json", str(tmp_path / "run-1.json")]


def test_parts_status_is_as_sh_reports_it(tmp_path: Path) -> None:
    """An exit status as it is, a part killed by a signal as 128 + the signal."""
    import os
    import signal

    from conformance.cli import parts

    assert parts.status(os.waitpid(_exits(7), 0)[1]) == 7
    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    assert parts.status(os.waitpid(pid, 0)[1]) == 128 + signal.SIGKILL


def _exits(code: int) -> int:
    import os

    pid = os.fork()
    if pid == 0:
        os._exit(code)
    return pid


def test_parts_runner_reports_a_part_usage_error(tmp_path: Path) -> None:
    import sys

    done = subprocess.run([sys.executable, "-P", "-m", "conformance.cli.parts", "--parts", "2", "--out", str(tmp_path),
                           "--kconform", "kconform", "--", "run", "--family", "no-such-family"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.stdout, done.stderr)  # EXIT_USAGE
    for k in (1, 2):
        assert "unknown family 'no-such-family'" in (tmp_path / f"guest-stdout-{k}.txt").read_text()


def test_parts_runner_spools_the_outputs(tmp_path: Path) -> None:
    """--spool: each part writes in a local directory of its own; the runner copies the outputs into OUT
    (all of them, once the parts end) and leaves no spool behind.  One part is forked too."""
    import sys

    spool, out = tmp_path / "spool", tmp_path / "out"
    spool.mkdir()
    out.mkdir()
    for n in (1, 2):
        done = subprocess.run([sys.executable, "-P", "-m", "conformance.cli.parts", "--parts", str(n), "--out",
                               str(out), "--kconform", "kconform", "--spool", str(spool), "--", "run", *SUBSET],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert "no spool" not in done.stderr
        for k in range(1, n + 1):
            text = (out / f"guest-stdout-{k}.txt").read_text()
            assert "kconform on " in text and text.rstrip().endswith("=")  # the summary line, whole
        assert list(spool.iterdir()) == []


def test_a_spool_target_that_fails_is_given_up_and_its_output_kept(tmp_path: Path) -> None:
    from conformance.cli.parts import Spool

    (tmp_path / "spool").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    spool = Spool(tmp_path / "spool", [out / "guest-stdout-1.txt", out / "guest-stdout-2.txt"])
    for local in spool.local:
        local.write_text("progress\n")
    (out / "guest-stdout-1.txt").unlink()
    (out / "guest-stdout-1.txt").mkdir()  # appending to it fails (EISDIR)
    spool.copy()
    assert spool.copied[0] == -1 and (out / "guest-stdout-2.txt").read_text() == "progress\n"
    spool.local[1].write_text("progress\nmore\n")
    spool.close()
    assert (out / "guest-stdout-2.txt").read_text() == "progress\nmore\n"
    assert spool.local[0].read_text() == "progress\n"  # kept where the part wrote it


def test_an_oops_while_booting_under_tcg_is_booted_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guest that oopses before the suite started (no case ran) is booted once more; the result says so
    and keeps the first console.  An oops once the suite runs, or in every boot, stays a panic."""
    boots: list[int] = []

    def launch(self: backends.QemuDirect, kernel: Kernel, cfg: backends.VmConfig, outdir: Path) -> backends.Launch:
        boots.append(1)
        if len(boots) == 1 or fail_always:
            return backends.Launch(["/bin/sh", "-c", "echo '[    1.35] Oops: int3: 0000 [#1] SMP NOPTI' >&2; "
                                    "echo 'Kernel panic - not syncing: Fatal exception' >&2"], console_on_stdout=True)
        _shard(1).save(tmp_path / "part-1.json")
        _shard(2).save(tmp_path / "part-2.json")
        sh = (f"echo 'KC[1.00] cmd-start' >&2; cp {tmp_path}/part-1.json {outdir}/run-1.json; "
              f"cp {tmp_path}/part-2.json {outdir}/run-2.json; echo 0 > {outdir}/exitcode; "
              "echo 'KC[2.50] cmd-end rc=0' >&2")
        return backends.Launch(["/bin/sh", "-c", sh], console_on_stdout=True)

    monkeypatch.setattr(backends.QemuDirect, "launch", launch)
    fail_always = False
    res = _run(tmp_path, monkeypatch)
    assert len(boots) == 2 and res.outcome is runner.Outcome.PASSED and "Oops: int3" in res.boot_retry
    assert "Oops: int3" in (tmp_path / "out" / runner.FIRST_BOOT_CONSOLE).read_text()
    assert json.loads((tmp_path / "out/vm-timings.json").read_text())["boot_retry"] == res.boot_retry
    boots.clear()
    fail_always = True
    res = _run(tmp_path, monkeypatch)
    assert len(boots) == 2 and res.outcome is runner.Outcome.PANIC and res.boot_retry  # a kernel that always does
