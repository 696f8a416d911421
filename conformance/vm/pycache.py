"""Bytecode for the guest, compiled on the host.

The guest runs this very installation from the host's root over 9p (read-only, a tmpfs overlay on
top), so every module the host holds no bytecode for -- kconform's own in an editable install, or
any install under PYTHONDONTWRITEBYTECODE -- is compiled from source in the guest on every boot, and
every module pytest rewrites (test files, the modules of pytest plugins) is parsed and rewritten
there as well: under TCG that is tens of seconds before the first case.

``archive()`` compiles those modules on the host, both ways: the ordinary ``.pyc`` Python looks for
and the assert-rewritten one pytest's import hook looks for, made by pytest's own functions.  They
go into one cpio archive in the kconform cache, named by the sources' paths, sizes and mtimes (a
changed source makes a new archive); the guest's init unpacks it into the overlay, each file in the
``__pycache__`` next to its source, where Python and pytest would have written it themselves.
Nothing is written into the source tree, and the host's own settings (PYTHONDONTWRITEBYTECODE,
PYTHONPYCACHEPREFIX) are neither read for this nor changed.  The pycs are validated in the guest
the usual way (source mtime and size; pytest's: the source hash), so a stale or missing archive
only costs the compilation it would have saved.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import marshal
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from conformance.vm.initramfs import Cpio
from conformance.vm.kernels import cache_dir

FORMAT = b"kconform-pycache-1"
MAX_PLUGIN_FILES = 400  # a pytest plugin distribution bigger than this is left to the guest


def _sources(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield Path(dirpath) / name


def kconform_sources() -> list[Path]:
    """Every module of the installed kconform: the core and the families."""
    import conformance
    from conformance.suite import registry

    roots = [Path(conformance.__file__).parent, registry.cases_dir()]
    return [p for root in dict.fromkeys(r.resolve() for r in roots) for p in _sources(root)]


def plugin_sources() -> list[Path]:
    """The modules of the other pytest plugins installed (pytest-xdist): pytest rewrites their asserts."""
    from importlib import metadata

    out: list[Path] = []
    seen: set[str] = set()
    for ep in metadata.entry_points(group="pytest11"):
        dist = ep.dist
        if dist is None or dist.name in seen or dist.name.lower() == "kconform":
            continue
        seen.add(dist.name)
        files = [f for f in dist.files or () if str(f).endswith(".py")]
        if len(files) > MAX_PLUGIN_FILES:
            continue
        for f in files:
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                out.append(path)
    return out


def plain_pyc(path: Path, data: bytes, st: os.stat_result) -> bytes:
    """A timestamp-validated pyc (PEP 552 flags 0), as importlib writes it."""
    code = compile(data, str(path), "exec", dont_inherit=True, optimize=-1)
    return b"".join([importlib.util.MAGIC_NUMBER, (0).to_bytes(4, "little"),
                     (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little"),
                     (st.st_size & 0xFFFFFFFF).to_bytes(4, "little"), marshal.dumps(code)])


def _rewriter() -> tuple[str, Any] | None:
    """pytest's file-name tail for rewritten pycs and a function making one, or None (another pytest)."""
    try:
        from _pytest.assertion import rewrite

        tail, rewrite_test, write_fp = rewrite.PYC_TAIL, rewrite._rewrite_test, rewrite._write_pyc_fp
        no_config: Any = None  # no assertion pass hook: kconform runs pytest without an ini file
    except (ImportError, AttributeError):
        return None

    def rewritten(path: Path) -> bytes:
        state, code = rewrite_test(path, no_config)
        buf = io.BytesIO()
        write_fp(buf, state, code)
        return buf.getvalue()

    return str(tail), rewritten


def _entries(sources: Iterable[tuple[Path, bool, bool]], rewriter: tuple[str, Any] | None,
             ) -> Iterator[tuple[str, bytes]]:
    """(archive path, pyc bytes) for every source; a source that does not compile is left out."""
    tag = sys.implementation.cache_tag
    for path, plain, rewrite in sources:
        try:
            data = path.read_bytes()
            st = path.stat()
            cache = f"{str(path.parent).lstrip('/')}/__pycache__/{path.name[:-3]}"
            if plain:
                yield f"{cache}.{tag}.pyc", plain_pyc(path, data, st)
            if rewrite and rewriter is not None:
                tail, rewritten = rewriter
                yield cache + tail, rewritten(path)
        except (OSError, SyntaxError, ValueError):
            continue


_lock = threading.Lock()


def archive(target_dir: Path | None = None) -> Path | None:
    """The cpio archive of the guest's bytecode for this installation (built when its sources
    changed), or None when there is nothing to give or it cannot be written."""
    if sys.implementation.cache_tag is None:
        return None
    target_dir = target_dir or cache_dir() / "pycache"
    ours = kconform_sources()
    plugins = plugin_sources()
    rewriter = _rewriter()
    # kconform's modules: plain and rewritten (the package is a pytest plugin: pytest rewrites the
    # ones imported after it starts); other plugins' modules: rewritten (their plain pycs came with them)
    sources = [(p, True, True) for p in ours] + [(p, False, True) for p in plugins]
    key = hashlib.sha256(FORMAT + sys.version.encode() + importlib.util.MAGIC_NUMBER
                         + (rewriter[0] if rewriter else "").encode())
    for p, _, _ in sources:
        with contextlib.suppress(OSError):
            st = p.stat()
            key.update(f"{p}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
    install = hashlib.sha256(f"{sys.prefix}\0{ours[0] if ours else ''}".encode()).hexdigest()[:12]
    target = target_dir / f"{install}-{key.hexdigest()[:16]}.cpio"
    with _lock:  # -j N: the kernels' launches share one build
        if target.exists():
            return target
        try:
            return _write(target, _entries(sources, rewriter), install)
        except OSError:
            return None


def _write(target: Path, entries: Iterable[tuple[str, bytes]], install: str) -> Path | None:
    c = Cpio()
    dirs: set[str] = set()
    count = 0
    for name, data in entries:
        d = name.rsplit("/", 1)[0]
        if d not in dirs:  # only the __pycache__ directories: the others exist and keep their modes
            dirs.add(d)
            c.dir(d)
        c.file(name, data)
        count += 1
    if not count:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(c.finish())
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    for old in target.parent.glob(f"{install}-*.cpio"):  # the same installation's older sources
        if old != target:
            old.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # whose archives these are, for prune()
        (target.parent / f"{install}{PREFIX_RECORD}").write_text(sys.prefix)
    prune(target.parent)
    return target


PREFIX_RECORD = ".prefix"  # <install>.prefix: the sys.prefix of the installation an archive is made for
UNRECORDED_MAX_AGE_S = 86400.0


def prune(target_dir: Path, now: float | None = None) -> list[Path]:
    """Remove the archives of installations that are gone (their recorded prefix no longer exists: a CI
    clone's, say), and those whose installation was never recorded once a day old (a removed one only
    costs its next run the build), with the records left without an archive.  The archives removed."""
    now = time.time() if now is None else now
    gone = []
    for archive_path in target_dir.glob("*-*.cpio"):
        if _stale(archive_path, now):
            archive_path.unlink(missing_ok=True)
            gone.append(archive_path)
    for record_path in target_dir.glob(f"*{PREFIX_RECORD}"):
        if not any(target_dir.glob(f"{record_path.name.removesuffix(PREFIX_RECORD)}-*.cpio")):
            record_path.unlink(missing_ok=True)
    return gone


def _stale(archive_path: Path, now: float) -> bool:
    install = archive_path.name.split("-", 1)[0]
    try:
        return not os.path.isdir(archive_path.with_name(f"{install}{PREFIX_RECORD}").read_text())
    except FileNotFoundError:
        pass
    except OSError:
        return False
    try:
        return now - archive_path.stat().st_mtime > UNRECORDED_MAX_AGE_S
    except OSError:
        return False
