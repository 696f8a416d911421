"""kconform's private directory is left as found: the last process to use it removes it (paths.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# A user of the private directory: the root's candidate moved under argv[1] (made unusable with argv[2] ==
# "tmp", so $TMPDIR's candidate serves), a lock file opened as globallock opens one, the path printed, then
# it waits for a line on stdin before it exits.
USER = """
import sys
from pathlib import Path
from conformance.host import paths
paths.ROOT_DIR = Path(sys.argv[1]) / ("no/such/dir" if sys.argv[2] == "tmp" else "run-kconform")
d = paths.private_dir()
paths.open_private("main-u0-nsX.lock")
(d / "journal").mkdir(mode=0o700, exist_ok=True)
print(d, flush=True)
sys.stdin.readline()
"""


def _user(tmp: Path, where: str = "root") -> tuple[subprocess.Popen[str], Path]:
    env = {**os.environ, "TMPDIR": str(tmp)}
    env.pop("KCONFORM_PRIVATE_DIR", None)
    p = subprocess.Popen([sys.executable, "-c", USER, str(tmp), where], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout is not None
    return p, Path(p.stdout.readline().strip())


def _leave(p: subprocess.Popen[str]) -> None:
    assert p.stdin is not None
    p.stdin.write("\n")
    p.stdin.flush()
    assert p.wait(timeout=30) == 0


def test_the_last_user_removes_the_directory(tmp_path: Path) -> None:
    first, path = _user(tmp_path)
    second, same = _user(tmp_path)
    assert same == path and path.is_dir() and (path / "main-u0-nsX.lock").exists()
    _leave(first)
    assert path.is_dir()  # the second still uses it
    _leave(second)
    assert not path.exists()
    again, path2 = _user(tmp_path)  # made again by the next run
    assert path2 == path and path.is_dir()
    _leave(again)
    assert not path.exists()


def test_a_journal_with_entries_keeps_the_directory(tmp_path: Path) -> None:
    p, path = _user(tmp_path)
    (path / "journal" / "entry-1").write_text("{}")
    _leave(p)
    assert sorted(x.name for x in path.iterdir()) == ["journal"]  # the lock file went, the entry stays
    assert (path / "journal" / "entry-1").exists()


def test_a_killed_user_leaves_it_to_the_next(tmp_path: Path) -> None:
    p, path = _user(tmp_path)
    p.kill()
    p.wait(timeout=30)
    assert path.is_dir()
    q, _ = _user(tmp_path)
    _leave(q)
    assert not path.exists()


def test_other_namespaces_directories_nobody_holds_are_pruned(tmp_path: Path) -> None:
    euid = os.geteuid()
    stale = tmp_path / f"kconform-{euid}-1"
    stale.mkdir(mode=0o700)
    (stale / "gate-u0-ns1.lock").touch()
    (stale / "journal").mkdir(mode=0o700)
    kept = tmp_path / f"kconform-{euid}-2"  # one with a journal entry to replay
    (kept / "journal").mkdir(mode=0o700, parents=True)
    kept.chmod(0o700)
    (kept / "journal" / "entry-1").write_text("{}")
    foreign = tmp_path / f"kconform-{euid + 1}-3"  # another uid's name: never looked into
    foreign.mkdir(mode=0o700)
    holder, mine = _user(tmp_path, "tmp")
    assert mine.parent == tmp_path and mine.name.startswith(f"kconform-{euid}-")
    assert not stale.exists() and kept.is_dir() and foreign.is_dir()
    # one that a live process holds stays: the user above holds its own
    other = subprocess.run([sys.executable, "-c", "from pathlib import Path; from conformance.host import paths; "
                            f"print(paths.prune_siblings(Path({str(tmp_path / 'x')!r})))"],
                           capture_output=True, text=True, env={**os.environ, "TMPDIR": str(tmp_path)}, timeout=30)
    assert other.returncode == 0, other.stderr
    assert mine.is_dir() and str(mine) not in other.stdout
    _leave(holder)
    assert not mine.exists()
