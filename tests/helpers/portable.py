"""A kconform command line that other uids (uid 65534, a container's uid 100000) can execute.

A virtual environment made from an interpreter under /root (pyenv) cannot be
run by them: the interpreter is unreachable.  Then the system interpreter of
the same version runs kconform from this environment's site-packages.
"""

from __future__ import annotations

import os
import shutil
import site
import stat
import sys
from pathlib import Path


def reachable_by_others(path: str) -> bool:
    """Whether every directory up to ``path`` is searchable and the file readable+executable by others."""
    p = Path(os.path.realpath(path))
    try:
        if not p.stat().st_mode & stat.S_IROTH or not p.stat().st_mode & stat.S_IXOTH:
            return False
        return all(d.stat().st_mode & stat.S_IXOTH for d in p.parents)
    except OSError:
        return False


def interpreter() -> str | None:
    if reachable_by_others(sys.executable):
        return sys.executable
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (f"/usr/bin/{name}", f"/usr/local/bin/{name}", shutil.which(name) or ""):
        if candidate and reachable_by_others(candidate):
            return candidate
    return None


def installation_reachable() -> bool:
    """Whether other uids can read kconform itself (an editable install lives in its checkout)."""
    import conformance

    return reachable_by_others(str(Path(conformance.__file__).parent))


def kconform_argv() -> list[str] | None:
    """argv prefix running ``kconform`` for any uid, or None when no interpreter or no installation
    is reachable."""
    python = interpreter()
    if python is None or not installation_reachable():
        return None
    sites = [p for p in site.getsitepackages() if Path(p).is_dir()]
    boot = ("import site, sys\n" + "".join(f"site.addsitedir({s!r})\n" for s in sites) +
            "from conformance.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")
    return [python, "-c", boot]


if __name__ == "__main__":  # for shell scripts: the argv, NUL-separated (mapfile -d '' -t)
    import sys as _sys

    found = kconform_argv()
    if found is None:
        print("kconform is not reachable by other uids here", file=_sys.stderr)
        _sys.exit(1)
    _sys.stdout.write("".join(a + "\0" for a in found))
