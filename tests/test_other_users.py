"""Other local users cannot plant, hold or open what a root run uses.

A second user (uid 65534) plants symlinks where kconform's files used to be
and where a user's fallback directory would be, holds flocks on every lock
path it can open, and keeps trying to open the resolve_cached fifo fixture.
The root run must create nothing outside its private directory, finish within
its timeout and keep its verdicts.  Waits on the lock are bounded and name the
holder.
"""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conformance.host import paths
from conformance.isolation import globallock
from tests.helpers import kc

ATTACKER = '''
import fcntl, glob, os, sys, time
victim = sys.argv[1]
tmp = sys.argv[2]
uid = os.getuid()
for name in ("kconform-gate-0.lock", "kconform-main-0.lock"):
    try:
        os.symlink(victim + "/" + name, os.path.join(tmp, name))
    except OSError:
        pass
held = []
for pattern in ("/run/kconform/*.lock", tmp + "/kconform-*.lock", tmp + "/kconform-0-*/*.lock",
                "/run/kconform-shared/*.lock"):  # the machine-wide lock: any user may hold it, root waits boundedly
    for p in glob.glob(pattern):
        try:
            fd = os.open(p, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.append(fd)
        except OSError:
            pass
deadline = time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    for fifo in glob.glob("/dev/shm/kconform-*/fifo") + glob.glob(tmp + "/kconform-*/fifo"):
        try:
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
            print("OPENED", fifo, flush=True)
        except OSError:
            pass
print(f"held={len(held)}", flush=True)
'''


def test_second_user_cannot_plant_hold_or_open(tmp_path: Path) -> None:
    kc.need_root()
    kc.need_program("setpriv")
    victim = Path(tempfile.mkdtemp(prefix="kconform-victim-"))
    victim.chmod(0o777)  # where a planted symlink would make root create files
    tmp = Path(tempfile.gettempdir())
    try:
        attacker = subprocess.Popen(
            ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--", sys.executable, "-c",
             ATTACKER, str(victim), str(tmp), "25"], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        out = tmp_path / "r.json"
        t0 = time.monotonic()
        done = kc.run(["run", "-q", "--timeout", "20", "--family", "resolve_cached", "--json", str(out)], tmp_path)
        elapsed = time.monotonic() - t0
        attacker.kill()
        said, _ = attacker.communicate(timeout=30)
        record = kc.load(out)
        assert kc.red(record) == [], done.out[-2000:]
        assert done.rc == 0 and elapsed < 60
        assert list(victim.iterdir()) == [], "root created files through a planted symlink"
        fifo = [c for c in record["cases"] if c["name"] == "final-enxio-fifo"]
        assert fifo and fifo[0]["verdict"] == "pass", fifo
        assert "OPENED" not in said, said
    finally:
        for name in ("kconform-gate-0.lock", "kconform-main-0.lock"):
            p = tmp / name
            if p.is_symlink():
                p.unlink()
        for p in victim.iterdir():
            p.unlink()
        victim.rmdir()


def test_lock_wait_is_bounded_and_names_the_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        "from conformance.isolation import globallock\n"
        "fd = os.open(globallock.lock_path('gate'), os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        out = tmp_path / "r.json"
        t0 = time.monotonic()
        done = kc.run(["run", "-q", "--timeout", "2", "--family", "clone3", "-k", "size-64", "--json", str(out)],
                      tmp_path)
        elapsed = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    assert done.rc == 1 and elapsed < 30, done.err
    errors = [c for c in kc.load(out)["cases"] if c["verdict"] == "error"]
    assert errors and all("not obtained in 2 s" in c["message"] and f"pid {holder.pid}" in c["message"]
                          for c in errors), errors


def test_private_dir_is_private() -> None:
    d = paths.private_dir()
    st = os.lstat(d)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077
    assert globallock.lock_path("main").parent == d
    assert f"u{os.geteuid()}-ns" in globallock.lock_name("main")


def test_check_private_refuses_symlinks_and_open_modes(tmp_path: Path) -> None:
    (tmp_path / "open").mkdir(mode=0o777)
    (tmp_path / "open").chmod(0o777)
    (tmp_path / "link").symlink_to(tmp_path / "open")
    for name, why in (("open", "mode"), ("link", "symlink"), ("missing", "No such file")):
        with pytest.raises(paths.UnsafePath, match=why):
            paths.check_private(tmp_path / name)
    with pytest.raises(paths.UnsafePath, match="owned by"):
        paths.check_private(tmp_path, uid=os.geteuid() + 1)


def test_open_private_does_not_follow_symlinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    priv = tmp_path / "p"
    priv.mkdir(mode=0o700)
    monkeypatch.setenv(paths.ENV, str(priv))
    paths.forget_private_dir()
    try:
        (priv / "x.lock").symlink_to(tmp_path / "target")
        with pytest.raises(OSError):
            paths.open_private("x.lock")
        assert not (tmp_path / "target").exists()
        fd = paths.open_private("y.lock")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    finally:
        paths.forget_private_dir()
