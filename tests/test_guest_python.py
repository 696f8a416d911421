"""The guest's interpreter (conformance/vm/interpreter.py): what may stand in for this installation's,
the virtual environment lent to it, and the guest's script run with it here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conformance.host.arch import ARM64, host_arch
from conformance.host.usage import UsageError
from conformance.vm import backends, interpreter, rootfs, runner

from .test_shards import SUBSET

LENDABLE = interpreter._site_packages() is not None
BASE = getattr(sys, "_base_executable", sys.executable)
MINE = interpreter.ours()


def _about(**kw: object) -> interpreter.About:
    mine = MINE
    fields = {"path": "/x/python", "impl": mine.impl, "version": mine.version, "cache_tag": mine.cache_tag,
              "abiflags": mine.abiflags, "suffixes": mine.suffixes, "shared": False}
    fields.update(kw)
    return interpreter.About(**fields)  # type: ignore[arg-type]


def test_what_may_stand_in_for_this_interpreter() -> None:
    mine = interpreter.ours()
    assert interpreter.compatible(mine, _about()) == ""
    assert "it is cpython 2.7.18" in interpreter.compatible(mine, _about(impl="cpython", version="2.7.18"))
    assert "bytecode tag" in interpreter.compatible(mine, _about(cache_tag="cpython-399"))
    assert "ABI flags" in interpreter.compatible(mine, _about(abiflags="d"))
    assert "extension modules" in interpreter.compatible(mine, _about(suffixes=(".so",)))


def test_an_interpreter_says_what_it_is() -> None:
    other = interpreter.about(sys.executable)
    assert other is not None
    mine = interpreter.ours()
    assert (other.version, other.cache_tag, other.abiflags, other.shared) == (mine.version, mine.cache_tag,
                                                                              mine.abiflags, mine.shared)
    assert interpreter.about("/bin/true") is None
    assert interpreter.about("/nonexistent/python") is None


def test_same_keeps_this_interpreter_and_a_bad_path_is_a_usage_error(tmp_path: Path) -> None:
    assert interpreter.choose("same", tmp_path).python == sys.executable
    for bad in ("/bin/true", str(tmp_path / "python")):
        with pytest.raises(UsageError, match=r"--guest-python .*: not a Python interpreter"):
            interpreter.choose(bad, tmp_path)
    assert not (tmp_path / interpreter.DIR).exists()


def test_auto_keeps_an_interpreter_that_is_not_a_shared_libpython(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interpreter, "ours", lambda: _about(path=sys.executable, shared=False))
    choice = interpreter.choose("auto", tmp_path)
    assert choice.python == sys.executable and not choice.lent
    assert not (tmp_path / interpreter.DIR).exists()


@pytest.mark.skipif(not LENDABLE, reason="kconform is not installed in a virtual environment here")
def test_auto_lends_this_environment_to_a_faster_interpreter(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """This interpreter's own base stands in for "another, linked in" one: the lent environment runs it
    over this environment's packages, and it is made once."""
    monkeypatch.setattr(interpreter, "ours", lambda: _about(path=sys.executable, shared=True))
    monkeypatch.setattr(interpreter, "candidates", lambda minor: [BASE])
    monkeypatch.setattr(interpreter, "about", lambda path: _about(path=path, shared=False))
    choice = interpreter.choose("auto", tmp_path)
    assert choice.lent and choice.python.startswith(str(tmp_path / interpreter.DIR))
    python = Path(choice.python)
    assert python.resolve() == Path(BASE).resolve()
    assert (python.parent.parent / "pyvenv.cfg").read_text().startswith(f"home = {Path(BASE).resolve().parent}\n")
    made = python.parent.parent.stat().st_mtime_ns
    assert interpreter.choose("auto", tmp_path).python == choice.python
    assert python.parent.parent.stat().st_mtime_ns == made  # the same environment serves again
    # one that no interpreter of the right version can run is passed over
    monkeypatch.setattr(interpreter, "works", lambda python: "ModuleNotFoundError: No module named 'pytest'")
    assert interpreter.choose("auto", tmp_path).python == sys.executable


@pytest.mark.skipif(not LENDABLE, reason="kconform is not installed in a virtual environment here")
def test_the_guest_script_runs_with_the_lent_interpreter(tmp_path: Path) -> None:
    """The guest's script, run here with this environment lent to its own base interpreter: the parts
    start, run and report as with this installation's own."""
    python = interpreter.lend(interpreter.ours(), tmp_path / "cache")
    assert interpreter.works(python) == ""
    out = tmp_path / "out"
    out.mkdir()
    script = out / "run.sh"
    script.write_text(runner.guest_script(out, "k", SUBSET, None, shards=1, python=str(python)))
    assert f"{python} -P -m conformance.cli.parts" in script.read_text()
    done = subprocess.run(["/bin/sh", str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout, done.stderr, [p.read_text() for p in out.glob("guest-stdout-*")])
    parts = runner.load_shards(out, 1)
    assert not isinstance(parts, str), parts
    assert parts[0].cases and all(c.verdict.value in ("pass", "skip", "old-model") for c in parts[0].cases)


def test_timings_name_the_guests_interpreter() -> None:
    cfg = backends.VmConfig(python="/cache/guest-python/k/bin/python3")
    assert runner.guest_python(cfg.python, host_arch()) == "/cache/guest-python/k/bin/python3"
    assert runner.guest_python(backends.VmConfig().python, host_arch()) == sys.executable
    assert runner.guest_python(cfg.python, ARM64) == rootfs.PYTHON  # a root of its own: its own interpreter


def test_the_vng_backend_takes_no_other_interpreter(capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.cli.main import main

    assert main(["vm", "--backend", "vng", "--kernel", "debian:7.3", "--guest-python", "/usr/bin/python3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--guest-python with --backend vng" in err[0], err


def test_lent_environments_of_removed_environments_are_pruned(tmp_path: Path) -> None:
    """A lent environment whose packages are gone (its virtual environment removed) goes when another is
    made; one whose packages are there stays."""
    root = tmp_path / interpreter.DIR
    for name, target in (("dead", tmp_path / "removed-venv" / "site-packages"), ("live", tmp_path / "venv")):
        (root / name / "lib" / "python3.11").mkdir(parents=True)
        (root / name / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (root / name / "lib" / "python3.11" / "site-packages").symlink_to(target)
    (tmp_path / "venv").mkdir()
    assert interpreter.prune(root) == [root / "dead"]
    assert sorted(p.name for p in root.iterdir()) == ["live"]
