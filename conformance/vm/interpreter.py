"""The Python interpreter a guest runs this installation with.

A guest runs this very installation from the host's root over 9p: its virtual environment, its
packages, its kconform.  Under TCG the interpreter's own speed is a large part of a guest's time
(the per-case Python of pytest and kconform, not the kernel's work): a CPython whose interpreter is
the shared ``libpython`` (built as position-independent code, calls between its own functions going
through the PLT; pyenv's builds and many hand-built ones) ran the whole suite of Debian's 7.3.4 with
one vCPU in 56.5-64.7 s, the same Python version linked into its executable (Debian's
``/usr/bin/python3.11``, also built with PGO and LTO) over the same packages in 44.3-51.4 s (the
medians 59.2 and 49.5 s, alternated, one quiet host).  On the host the same change is a few hundredths
of a second per run, and the host's run stays with the interpreter its user chose.

``choose(request)``:

- ``same``: this interpreter (``sys.executable``);
- ``auto`` (the default): this interpreter, unless it maps ``libpython`` as a shared library and
  another interpreter of the same implementation, version and ABI (cache tag, abiflags, and this
  interpreter's extension-module suffix) that does not is found (``pythonX.Y`` on PATH,
  ``/usr/bin``, ``/usr/local/bin``), and it imports kconform's native module and pytest from this
  environment (checked once per ``kconform vm``);
- a path: that interpreter, checked the same way (a mismatch is a usage error).

The interpreter chosen runs over this environment's packages through a virtual environment of its own,
made in kconform's cache: ``pyvenv.cfg`` naming its home, ``bin/python3`` a link to it, and
``lib/pythonX.Y/site-packages`` a link to this environment's; ``sys.executable`` in the guest is then
that environment's interpreter, so what kconform starts with it (its guardian, pid 1 helper) imports
the same packages.  Only an installation in a virtual environment whose packages are all in one
directory can be lent that way; any other runs as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from conformance.host.records import record
from conformance.host.usage import UsageError

DIR = "guest-python"  # under kconform's cache directory
SAME, AUTO = "same", "auto"
CHECK_TIMEOUT_S = 60.0

def facts() -> dict[str, Any]:
    """What an interpreter is: run here for this one (ours()), and its source sent to another (about())."""
    import importlib.machinery
    import sys

    try:
        with open("/proc/self/maps") as f:
            shared = any("libpython" in line for line in f)
    except OSError:
        shared = False
    return {"impl": sys.implementation.name, "version": ".".join(map(str, sys.version_info[:3])),
            "cache_tag": sys.implementation.cache_tag or "", "abiflags": sys.abiflags,
            "suffixes": importlib.machinery.EXTENSION_SUFFIXES, "shared": shared}


@record(frozen=True)
class About:
    """What matters of an interpreter for running this environment's packages, and its speed."""

    path: str
    impl: str
    version: str  # x.y.z
    cache_tag: str
    abiflags: str
    suffixes: tuple[str, ...]
    shared: bool  # its interpreter is a shared libpython

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


@record(frozen=True)
class Choice:
    """The guest's interpreter (``python``: what the guest's script runs) and why."""

    python: str
    why: str
    lent: bool = False  # another interpreter over this environment's packages

    def line(self) -> str:
        return f"guest interpreter: {self.python} ({self.why})"


def about(path: str) -> About | None:
    """Ask the interpreter at path what it is (None: it does not run, or answers nonsense)."""
    try:
        # -I -S: nothing of the environment, no site; facts() needs nothing but the standard library
        code = "\n".join(["from __future__ import annotations", "import json", inspect.getsource(facts),
                          "print(json.dumps(facts()))"])
        out = subprocess.run([path, "-I", "-S", "-c", code], capture_output=True, text=True,
                             timeout=CHECK_TIMEOUT_S, stdin=subprocess.DEVNULL)
        data = json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return _from_facts(path, data)


def _from_facts(path: str, data: object) -> About | None:
    if not isinstance(data, dict):
        return None
    try:
        return About(path=path, impl=str(data["impl"]), version=str(data["version"]),
                     cache_tag=str(data["cache_tag"]), abiflags=str(data["abiflags"]),
                     suffixes=tuple(str(s) for s in data["suffixes"]), shared=bool(data["shared"]))
    except (KeyError, TypeError):
        return None


def ours() -> About:
    """This interpreter, read in this process (the same facts another one is asked for)."""
    found = _from_facts(sys.executable, facts())
    assert found is not None  # facts() always gives every field
    return found


def compatible(mine: About, other: About) -> str:
    """Why other cannot run this environment's packages in place of mine ("" when it can)."""
    if (other.impl, other.minor) != (mine.impl, mine.minor):
        return f"it is {other.impl} {other.version}, this environment's is {mine.impl} {mine.version}"
    if other.cache_tag != mine.cache_tag:
        return f"its bytecode tag is {other.cache_tag}, this environment's {mine.cache_tag}"
    if other.abiflags != mine.abiflags:
        return f"its ABI flags are {other.abiflags!r}, this environment's {mine.abiflags!r}"
    ext = sysconfig.get_config_var("EXT_SUFFIX") or (mine.suffixes[0] if mine.suffixes else "")
    if ext and ext not in other.suffixes:
        return f"it does not load extension modules named *{ext}"
    return ""


def candidates(minor: str) -> list[str]:
    """Interpreters of version minor (x.y) on this host, each file once, this one's own left out."""
    found = [shutil.which(f"python{minor}"), f"/usr/bin/python{minor}", f"/usr/local/bin/python{minor}"]
    seen = {os.path.realpath(sys.executable)}
    out = []
    for path in found:
        if path and os.access(path, os.X_OK) and (real := os.path.realpath(path)) not in seen:
            seen.add(real)
            out.append(path)
    return out


def _site_packages() -> Path | None:
    """This virtual environment's one package directory (None: not a venv, or two directories)."""
    if sys.prefix == sys.base_prefix:
        return None
    paths = sysconfig.get_paths()
    pure, plat = Path(paths["purelib"]), Path(paths["platlib"])
    return pure if pure.resolve() == plat.resolve() and pure.is_dir() else None


def _include_system() -> str:
    with contextlib.suppress(OSError):
        for line in (Path(sys.prefix) / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "include-system-site-packages":
                return value.strip()
    return "false"


def lend(other: About, cache: Path) -> Path:
    """A virtual environment in cache whose interpreter is other, over this environment's packages (made
    once; a fresh copy replaces one that differs): its bin/python3."""
    site = _site_packages()
    if site is None:
        raise OSError("this installation is not a virtual environment with one package directory")
    real = os.path.realpath(other.path)
    # the version too: a running guest's environment is never replaced under it by an upgrade's
    key = hashlib.sha256(f"{sys.prefix}\0{site}\0{real}\0{other.version}".encode()).hexdigest()[:16]
    home = cache / DIR / key
    cfg = (f"home = {os.path.dirname(real)}\ninclude-system-site-packages = {_include_system()}\n"
           f"version = {other.version}\nexecutable = {real}\n")
    lib = f"lib/python{other.minor}/site-packages"
    if (home / "pyvenv.cfg").is_file() and (home / "pyvenv.cfg").read_text() == cfg and \
            os.readlink(home / "bin/python3") == real and os.readlink(home / lib) == str(site):
        return home / "bin/python3"
    home.parent.mkdir(parents=True, exist_ok=True)
    prune(home.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=home.parent))
    try:
        (tmp / "bin").mkdir()
        os.symlink(real, tmp / "bin/python3")
        os.symlink("python3", tmp / "bin/python")
        (tmp / lib).parent.mkdir(parents=True)
        os.symlink(site, tmp / lib)
        (tmp / "pyvenv.cfg").write_text(cfg)
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 would keep another uid's guest runner out
        old = home.with_name(f".{key}.old.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            home.rename(old)  # a stale one (another interpreter or environment at the same paths)
        try:
            tmp.rename(home)
        except OSError:  # another kconform made it meanwhile: theirs serves
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return home / "bin/python3"


def prune(root: Path) -> list[Path]:
    """Remove the lent environments in root whose packages are gone (their virtual environment was
    removed: a CI clone's, say); no guest can run from those.  The ones removed."""
    try:
        homes = [h for h in root.iterdir() if not h.name.startswith(".") and (h / "pyvenv.cfg").is_file()]
    except OSError:
        return []
    gone = []
    for home in homes:
        try:
            links = [d / "site-packages" for d in (home / "lib").iterdir() if d.name.startswith("python")]
        except OSError:
            continue
        if links and all(link.is_symlink() and not link.exists() for link in links):
            shutil.rmtree(home, ignore_errors=True)
            gone.append(home)
    return gone


def works(python: Path) -> str:
    """Why python cannot run kconform from this environment ("" when it can)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        out = subprocess.run([str(python), "-P", "-c", "import sys, conformance.native, pytest; print(sys.prefix)"],
                             capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, env=env,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit status {out.returncode}"
    if out.stdout.strip() != str(python.parent.parent):
        return f"it runs in {out.stdout.strip()}, not the environment made for it"
    return ""


def _describe(a: About) -> str:
    return f"Python {a.version}, {'a shared libpython' if a.shared else 'libpython linked in'}"


def _lent(path: str, mine: About, cache: Path, unshared: bool = False) -> tuple[Path, About] | str:
    """The interpreter at path lent this environment and checked (``unshared``: only one whose interpreter is
    not a shared libpython): its environment's bin/python3 and what it is, or why it cannot serve."""
    other = about(path)
    if other is None:
        return "not a Python interpreter that runs here"
    if unshared and other.shared:
        return "its interpreter is a shared libpython too"
    if why := compatible(mine, other):
        return why
    try:
        python = lend(other, cache)
    except OSError as e:
        return str(e)
    if why := works(python):
        return f"it cannot run kconform from this environment ({why})"
    return python, other


def choose(request: str, cache: Path) -> Choice:
    """The guest's interpreter for request (``same``, ``auto`` or a path; see the module's doc).  A path
    that cannot serve raises UsageError; ``auto`` falls back to this interpreter, saying why."""
    mine = ours()
    keep = f"{_describe(mine)}: this installation's"
    if request == SAME:
        return Choice(sys.executable, keep)
    if request != AUTO:
        lent = _lent(request, mine, cache)
        if isinstance(lent, str):
            raise UsageError(f"--guest-python {request}: {lent}")
        python, other = lent
        return Choice(str(python), f"{request}, {_describe(other)}, over this environment's packages", lent=True)
    if not mine.shared or _site_packages() is None:
        return Choice(sys.executable, keep)
    for path in candidates(mine.minor):
        lent = _lent(path, mine, cache, unshared=True)
        if not isinstance(lent, str):
            python, other = lent
            return Choice(str(python), f"{path}, {_describe(other)}, over this environment's packages; "
                                       f"faster under TCG than this installation's shared libpython "
                                       f"(--guest-python same keeps it)", lent=True)
    return Choice(sys.executable, keep)
