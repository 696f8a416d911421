"""Debian kernels: found in Debian's own package indexes, fetched with apt.

kconform keeps a private apt state under its cache (``<cache>/apt/<arch>/``:
sources list, lists, archives, an empty dpkg status); apt runs with
``-o Dir::...`` options pointing there, so nothing under /etc/apt is read for
sources or written, and no root is needed.  The sources name suites by their
codenames; the codename behind each alias (oldstable, stable, testing,
unstable, the security and backports suites) is read from the alias's Release
file first, so next year's stable needs no code change.  (Mirrors may serve
an alias path from an older snapshot than the codename path: the indexes are
read through the codenames.)

Two packagings are known:

* old: ``linux-image-<abi>-<flavour>-unsigned`` with ``boot/vmlinuz-*``,
  ``boot/config-*`` and ``lib/modules/<release>/``;
* split (7.x): ``linux-binary-<abi>-<flavour>`` (``usr/lib/modules/<release>/vmlinuz``),
  ``linux-modules-<abi>-<flavour>`` and ``linux-base-<abi>-<flavour>`` (``config``,
  ``System.map``), no ``boot/``.

The package indexes are refreshed at most once a day unless asked.
"""

from __future__ import annotations

import enum
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

from conformance.host.arch import Arch
from conformance.host.records import record
from conformance.vm.errors import KernelSpecError, MirrorError

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
INDEX_MAX_AGE_S = 24 * 3600

# (suite alias, on the security mirror); the codename is read from each Release file.
SUITES: tuple[tuple[str, bool], ...] = (
    ("oldstable", False), ("oldstable-security", True), ("oldstable-backports", False),
    ("stable", False), ("stable-security", True), ("stable-backports", False),
    ("testing", False), ("unstable", False),
)
# What a user may write after debian: for a suite; the security suite belongs to its base.
SUITE_ALIASES = {"backports": "stable-backports"}
SUITE_NAMES = ("stable", "testing", "unstable", "backports", "oldstable")

ABI = r"\d+\.\d+(?:\.\d+)?(?:-\d+)?(?:\+deb\d+)?"
SERIES = re.compile(r"^\d+(\.\d+)?$")  # 7.3, or 7 for the newest 7.x
# apt's words for a mirror that cannot be reached at all (as opposed to a suite it does not have)
UNREACHABLE = re.compile(r"Could not connect|Could not resolve|Connection refused|Temporary failure resolving|"
                         r"timed out|No route to host|Network is unreachable|Unsupported URI",
                         re.IGNORECASE)


def mirrors() -> tuple[str, str]:
    """(main archive, security archive): KCONFORM_DEBIAN_MIRROR / _SECURITY_MIRROR or Debian's."""
    return (os.environ.get("KCONFORM_DEBIAN_MIRROR", DEFAULT_MIRROR).rstrip("/"),
            os.environ.get("KCONFORM_DEBIAN_SECURITY_MIRROR", DEFAULT_SECURITY_MIRROR).rstrip("/"))


class Packaging(enum.StrEnum):
    OLD = "old"  # linux-image-<abi>-<flavour>-unsigned, boot/
    SPLIT = "split"  # linux-binary / linux-modules / linux-base, usr/lib/modules/<release>/


@record(frozen=True)
class DebKernel:
    """One fetchable kernel: an ABI in one suite."""

    abi: str  # 7.3.4+deb13, 6.1.0-57
    flavour: str  # amd64
    version: str  # the package version, 7.3.4-1~bpo13+1
    suite: str  # the alias from the Release file: stable-backports
    codename: str  # trixie-backports
    packaging: Packaging
    packages: tuple[str, ...]  # name=version for apt-get download
    size: int = 0  # bytes to download

    @property
    def release(self) -> str:
        return f"{self.abi}-{self.flavour}"

    @property
    def upstream(self) -> str:
        """7.3.4 from 7.3.4-1~bpo13+1."""
        return self.version.split(":")[-1].rsplit("-", 1)[0]

    @property
    def label(self) -> str:
        return f"debian-{self.upstream}"

    def in_suite(self, name: str) -> bool:
        """debian:<name> for a suite alias or a codename (a security suite counts as its base)."""
        name = SUITE_ALIASES.get(name, name)
        return name in (self.suite.removesuffix("-security"), self.codename.removesuffix("-security"))

    def matches(self, want: str) -> bool:
        if SERIES.match(want):
            n = _numbers(want)
            return _numbers(self.upstream)[:len(n)] == n
        return want in (self.abi, self.release, self.upstream) or self.in_suite(want)


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text.split("-", 1)[0]))


# --------------------------------------------------------------------------- Debian version order


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _cmp_part(a: str, b: str) -> int:
    while a or b:
        na = re.match(r"\D*", a).group()  # type: ignore[union-attr]
        nb = re.match(r"\D*", b).group()  # type: ignore[union-attr]
        for x, y in zip(na + "\0" * (len(nb) - len(na)), nb + "\0" * (len(na) - len(nb)), strict=True):
            ox = 0 if x == "\0" else _order(x)
            oy = 0 if y == "\0" else _order(y)
            if ox != oy:
                return -1 if ox < oy else 1
        a, b = a[len(na):], b[len(nb):]
        da = re.match(r"\d*", a).group()  # type: ignore[union-attr]
        db = re.match(r"\d*", b).group()  # type: ignore[union-attr]
        if int(da or 0) != int(db or 0):
            return -1 if int(da or 0) < int(db or 0) else 1
        a, b = a[len(da):], b[len(db):]
    return 0


def version_cmp(a: str, b: str) -> int:
    """dpkg's version comparison (epoch, upstream, revision; ``~`` sorts first)."""
    ea, _, ra = a.rpartition(":") if ":" in a else ("0", "", a)
    eb, _, rb = b.rpartition(":") if ":" in b else ("0", "", b)
    if int(ea) != int(eb):
        return -1 if int(ea) < int(eb) else 1
    ua, _, da = ra.rpartition("-") if "-" in ra else (ra, "", "0")
    ub, _, db = rb.rpartition("-") if "-" in rb else (rb, "", "0")
    return _cmp_part(ua, ub) or _cmp_part(da, db)


class _Key:
    """Sort key: Debian version order."""

    def __init__(self, version: str) -> None:
        self.v = version

    def __lt__(self, other: _Key) -> bool:
        return version_cmp(self.v, other.v) < 0


def newest_first(found: Iterable[DebKernel]) -> list[DebKernel]:
    return sorted(found, key=lambda k: _Key(k.version), reverse=True)


def newest_first_pairs(found: Iterable[tuple[DebKernel, Path]]) -> list[tuple[DebKernel, Path]]:
    return sorted(found, key=lambda kr: _Key(kr[0].version), reverse=True)


# --------------------------------------------------------------------------- index parsing


def parse_packages(text: str, suite: str, codename: str, arch: Arch) -> list[DebKernel]:
    """The bootable kernels in one Packages index (generic flavour only)."""
    flavour = re.escape(arch.flavour)
    old = re.compile(rf"^linux-image-({ABI})-{flavour}-unsigned$")
    split = re.compile(rf"^linux-(binary|modules|base)-({ABI})-{flavour}$")
    versions: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for stanza in text.split("\n\n"):
        if not stanza.startswith("Package: linux-"):
            continue
        name = stanza[9:stanza.find("\n")].strip()
        if old.match(name) or split.match(name):
            m = re.search(r"^Version: (\S+)", stanza, re.MULTILINE)
            if m:
                versions[name] = m.group(1)
                size = re.search(r"^Size: (\d+)", stanza, re.MULTILINE)
                sizes[name] = int(size.group(1)) if size else 0
    out: list[DebKernel] = []
    for name, version in versions.items():
        if m := old.match(name):
            out.append(DebKernel(m.group(1), arch.flavour, version, suite, codename, Packaging.OLD,
                                 (f"{name}={version}",), sizes[name]))
        elif (m := split.match(name)) and m.group(1) == "binary":
            abi = m.group(2)
            parts = tuple(f"linux-{p}-{abi}-{arch.flavour}" for p in ("binary", "modules", "base"))
            if all(versions.get(p) == version for p in parts):
                out.append(DebKernel(abi, arch.flavour, version, suite, codename, Packaging.SPLIT,
                                     tuple(f"{p}={version}" for p in parts), sum(sizes[p] for p in parts)))
    return out


# --------------------------------------------------------------------------- the private apt state


Progress = Callable[[str], None]


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class AptState:
    """apt, run against a sources list, lists and archives of kconform's own."""

    def __init__(self, root: Path, arch: Arch) -> None:
        self.root = root
        self.arch = arch

    @property
    def lists(self) -> Path:
        return self.root / "lists"

    def options(self) -> list[str]:
        r = self.root
        return ["-o", f"Dir::Etc::SourceList={r / 'sources.list'}", "-o", f"Dir::Etc::SourceParts={r / 'sources.d'}",
                "-o", f"Dir::State::Lists={self.lists}", "-o", f"Dir::Cache={r / 'cache'}",
                "-o", f"Dir::State::status={r / 'status'}", "-o", f"Dir::State={r / 'state'}",
                "-o", f"APT::Architecture={self.arch.debian}", "-o", f"APT::Architectures={self.arch.debian}",
                "-o", "Acquire::Languages=none", "-o", "Dir::Etc::Preferences=/dev/null",
                "-o", f"Dir::Etc::PreferencesParts={r / 'sources.d'}"]

    def codenames(self, say: Progress) -> dict[str, str]:
        """Suite alias -> codename, from each alias's Release file (the last known one where a suite has none).

        MirrorError, with nothing changed, when the main mirror gives no Release file at all.  A mirror that
        refuses or cannot be resolved is tried once (no retries), not once per suite."""
        known_file = self.root / "codenames.json"
        known: dict[str, str] = json.loads(known_file.read_text()) if known_file.exists() else {}
        main, security = mirrors()
        got: dict[str, Path] = {}
        dead: dict[str, str] = {}  # mirror -> why it gave nothing
        reached: set[str] = set()
        with tempfile.TemporaryDirectory(prefix="release-", dir=self.root) as tmp:
            for suite, sec in SUITES:
                mirror = security if sec else main
                if mirror in dead:
                    continue
                target = Path(tmp) / f"{suite}.InRelease"
                why = self._download(f"{mirror}/dists/{suite}/InRelease", target)
                m = re.search(r"^Codename: (\S+)", target.read_text(errors="replace") if target.exists() else "",
                              re.MULTILINE)
                if m:
                    known[suite] = m.group(1)
                    got[suite] = target
                    reached.add(mirror)
                    continue
                if mirror not in reached and UNREACHABLE.search(why):
                    dead[mirror] = why
                elif suite not in known:
                    say(f"warning: no Release file for {suite} on {mirror}")
            if main not in reached:
                why = dead.get(main) or "no Release file for any suite"
                raise MirrorError(f"cannot refresh the Debian indexes from {main}: {why} (the indexes are as "
                                  "they were)")
            for mirror, why in dead.items():
                say(f"warning: {mirror}: {why}")
            rel = self.root / "release"
            rel.mkdir(exist_ok=True)
            for path in got.values():
                path.replace(rel / path.name)
        known_file.write_text(json.dumps(known))
        return known

    def _download(self, url: str, target: Path) -> str:
        """One file with apt's own downloader, without retries; "" or the reason it failed."""
        try:
            p = subprocess.run(["/usr/lib/apt/apt-helper", *self.options(), "-o", "Acquire::Retries=0",
                                "download-file", url, str(target)], capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"apt-helper: {e}"
        if p.returncode == 0:
            return ""
        lines = [ln.strip() for ln in p.stderr.splitlines() if ln.strip()]
        failed = [ln for ln in lines if "Failed to fetch" in ln] or lines or ["(no output)"]
        return re.sub(r"^E: Failed to fetch \S+\s*", "", failed[0]).strip() or failed[0]

    def sources(self, codenames: dict[str, str]) -> str:
        main, security = mirrors()
        if not KEYRING.exists():
            raise KernelSpecError(f"{KEYRING} is missing (apt-get install debian-archive-keyring)")
        return "".join(f"deb [signed-by={KEYRING}] {security if sec else main} {codenames[suite]} main\n"
                       for suite, sec in SUITES if suite in codenames)

    def prepare(self, codenames: dict[str, str]) -> None:
        text = self.sources(codenames)
        path = self.root / "sources.list"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)

    @property
    def stamp(self) -> Path:
        return self.root / "updated"

    def fresh(self) -> bool:
        """Refreshed less than a day ago, from the mirror asked for now."""
        try:
            if (self.root / "mirror").read_text() != " ".join(mirrors()):
                return False
            return time.time() - self.stamp.stat().st_mtime < INDEX_MAX_AGE_S
        except OSError:
            return False

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 1800,
            watch: Callable[[], None] | None = None) -> str:
        """apt with the private state; watch() is called every few seconds while it runs."""
        if shutil.which(args[0]) is None:
            raise KernelSpecError(f"{args[0]} not found: debian: kernel specs need apt (a Debian or Ubuntu host)")
        cmd = [args[0], *self.options(), *args[1:]]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            try:
                proc = subprocess.Popen(cmd, cwd=cwd, text=True, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            except OSError as e:
                raise KernelSpecError(f"{args[0]} {args[1]} failed: {e}") from None
            deadline = time.monotonic() + timeout
            try:
                while True:
                    try:
                        proc.wait(timeout=5)
                        break
                    except subprocess.TimeoutExpired:
                        if time.monotonic() > deadline:
                            raise KernelSpecError(f"{args[0]} {args[1]} timed out after {timeout:g} s") from None
                        if watch is not None:
                            watch()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        if proc.returncode != 0:
            errs = [ln for ln in stderr.splitlines() if ln.startswith("E:")] or stderr.splitlines()
            raise KernelSpecError(f"{args[0]} {args[1]} failed: {(errs or ['(no output)'])[-1].strip()}")
        return stdout

    def setup(self) -> None:
        for d in ("lists/partial", "cache/archives/partial", "sources.d", "state"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        if not (self.root / "status").exists():
            (self.root / "status").touch()  # an empty dpkg status: nothing installed

    def update(self, refresh: bool = False, say: Progress = _say) -> None:
        """Refresh the indexes when they are a day old, from another mirror, or asked to.  A refresh that
        fails raises MirrorError and leaves the indexes, the sources and the freshness stamp as they were
        (another mirror's failure never makes the last good indexes look fresh or empty)."""
        self.setup()
        if self.fresh() and not refresh:
            return
        say(f"updating Debian package indexes ({mirrors()[0]}, private apt state in {self.root})")
        sources = self.root / "sources.list"
        old_sources = sources.read_text() if sources.exists() else None
        self.prepare(self.codenames(say))
        try:
            self.run("apt-get", "update", "-q")
        except KernelSpecError as e:
            # A suite that does not exist (yet) on a mirror fails its download; the rest is usable.
            if not self._usable():
                if old_sources is not None:
                    sources.write_text(old_sources)
                else:
                    sources.unlink(missing_ok=True)
                raise MirrorError(f"cannot refresh the Debian indexes from {mirrors()[0]}: {e} (the indexes are "
                                  "as they were)") from None
            say(f"warning: {e}")
        (self.root / "mirror").write_text(" ".join(mirrors()))
        self.stamp.touch()
        (self.root / "kernels-2.json").unlink(missing_ok=True)

    def _usable(self) -> bool:
        """Some Packages index of the current sources is on disk."""
        try:
            targets = self.run("apt-get", "indextargets", "--format", "$(FILENAME)", "Identifier: Packages")
        except KernelSpecError:
            return False
        return any(Path(line).exists() for line in targets.splitlines() if line.strip())

    def kernels(self) -> list[DebKernel]:
        """Every kernel in the indexes (cached as kernels.json until the next update)."""
        cache = self.root / "kernels-2.json"
        if cache.exists() and self.stamp.exists() and cache.stat().st_mtime >= self.stamp.stat().st_mtime:
            rows = json.loads(cache.read_text())
            return [DebKernel(**{**r, "packaging": Packaging(r["packaging"]), "packages": tuple(r["packages"])})
                    for r in rows]
        out: list[DebKernel] = []
        targets = self.run("apt-get", "indextargets", "--format", "$(FILENAME)|$(SUITE)|$(CODENAME)",
                           "Identifier: Packages")
        for line in targets.splitlines():
            filename, suite, codename = [*line.split("|"), "", ""][:3]
            if not Path(filename).exists():
                continue
            text = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", filename], capture_output=True,
                                  text=True, errors="replace", timeout=300).stdout
            out += parse_packages(text, suite, codename, self.arch)
        cache.write_text(json.dumps([asdict(k) for k in out]))
        return out

    def download(self, k: DebKernel, dest: Path, say: Progress = _say) -> list[Path]:
        """The .deb files of k in dest, with apt's progress on the terminal."""
        dest.mkdir(parents=True, exist_ok=True)
        mb = k.size / 1e6
        say(f"downloading {', '.join(p.split('=')[0] for p in k.packages)} ({k.version}, {k.codename}, {mb:.0f} MB)")

        def progress() -> None:
            got = sum(f.stat().st_size for f in dest.rglob("*.deb*") if f.is_file()) / 1e6
            say(f"  {got:.0f} of {mb:.0f} MB")

        self.run("apt-get", "download", "-q", *k.packages, cwd=dest, watch=progress)
        debs = sorted(dest.glob("*.deb"))
        if len(debs) != len(k.packages):
            raise KernelSpecError(f"apt-get download {k.packages[0]} gave {len(debs)} files, not {len(k.packages)}")
        return debs


# --------------------------------------------------------------------------- the kernel cache


META = "kconform-kernel.json"


def choose(found: Sequence[DebKernel], want: str) -> DebKernel:
    """The newest kernel debian:<want> means; one-line error when none is."""
    hits = [k for k in found if k.matches(want)]
    if hits:
        return newest_first(hits)[0]
    series = sorted({".".join(map(str, _numbers(k.upstream)[:2])) for k in found}, key=_numbers)
    have = f"series: {', '.join(series)}; suites: {', '.join(SUITE_NAMES)}" if found else "no indexes"
    if SERIES.match(want):
        raise KernelSpecError(f"no Debian kernel of series {want} in Debian's indexes ({have})")
    if re.match(rf"^{ABI}(-\w+)?$", want):
        raise KernelSpecError(f"no Debian kernel with ABI {want} in Debian's indexes ({have})")
    raise KernelSpecError(f"unknown Debian kernel {want!r} (a series like 7.3, an ABI like 7.3.4+deb13, "
                          f"or a suite: {', '.join(SUITE_NAMES)}, or a codename)")


def cached(root: Path) -> list[tuple[DebKernel, Path]]:
    out = []
    for meta in sorted(root.glob(f"*/{META}")) if root.is_dir() else []:
        try:
            r = json.loads(meta.read_text())
            out.append((DebKernel(**{**r, "packaging": Packaging(r["packaging"]),
                                     "packages": tuple(r["packages"])}), meta.parent))
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return out


def unpack(debs: Sequence[Path], k: DebKernel, target: Path) -> Path:
    """Extract the packages into target (atomically: a .part directory renamed at the end)."""
    tmp = target.with_name(target.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for deb in debs:
        proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise KernelSpecError(f"dpkg-deb -x {deb.name} failed: {proc.stderr.strip()[-200:]}")
    moddir = layout(tmp, k.release)[1]
    if moddir is not None and not (moddir / "modules.dep").exists() and shutil.which("depmod", path="/usr/sbin:/sbin:"
                                                                                      + os.environ.get("PATH", "")):
        depmod = shutil.which("depmod", path="/usr/sbin:/sbin:" + os.environ.get("PATH", "")) or "depmod"
        subprocess.run([depmod, "-b", str(moddir.parents[2]), k.release], capture_output=True)
    (tmp / META).write_text(json.dumps(asdict(k)))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def layout(root: Path, release: str) -> tuple[Path | None, Path | None, Path | None]:
    """(image, modules dir, config) of an extracted package tree of either packaging."""
    for moddir in (root / "usr/lib/modules" / release, root / "lib/modules" / release):
        if (moddir / "vmlinuz").exists():  # split packaging
            cfg = moddir / "config"
            return moddir / "vmlinuz", moddir, cfg if cfg.exists() else None
    image, cfg = root / "boot" / f"vmlinuz-{release}", root / "boot" / f"config-{release}"
    found = [d for d in (root / "lib/modules" / release, root / "usr/lib/modules" / release) if d.is_dir()]
    return (image if image.exists() else None), (found[0] if found else None), (cfg if cfg.exists() else None)


def fetch(apt: AptState, k: DebKernel, kernels_root: Path, say: Progress = _say) -> Path:
    target = kernels_root / k.release
    meta = target / META
    if meta.exists() and json.loads(meta.read_text()).get("version") == k.version:
        return target
    with tempfile.TemporaryDirectory(prefix="debs-", dir=apt.root) as tmp:
        debs = apt.download(k, Path(tmp), say)
        return unpack(debs, k, target)
