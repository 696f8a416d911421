"""Kernel images: what they are, what release they carry, and the ELF inside.

A bzImage's setup header says where its compressed payload is (boot protocol
2.08+: ``payload_offset``/``payload_length``) and where its version string is,
so nothing here guesses from magic numbers found in the setup code; only an
image without those fields is scanned, and every decompressor error there just
means "not this offset".  When no ELF comes out, the bzImage boots as it is.
Everything cached is keyed by a digest of the image's bytes.
"""

from __future__ import annotations

import bz2
import enum
import gzip
import hashlib
import lzma
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

from conformance.host.arch import ARCHES, Arch, host_arch
from conformance.host.records import record
from conformance.vm.errors import KernelSpecError

ELF_MAGIC = b"\x7fELF"


class Kind(enum.StrEnum):
    BZIMAGE = "bzImage"
    ELF = "vmlinux"
    IMAGE = "Image"  # booted as it is (plain, or gzip-compressed: QEMU's -kernel unpacks it)


@record(frozen=True)
class ImageInfo:
    kind: Kind
    version: str  # the kernel's version string, "" when not found
    digest: str  # sha256 of the file, 16 hex digits

    @property
    def release(self) -> str:
        """uname -r of the kernel: the version string's first word."""
        return self.version.split(" ", 1)[0] if self.version else ""

    @property
    def debian_version(self) -> str | None:
        """The Debian package version when Debian built it (``... Debian 7.3.4-1~bpo13+1 ...``)."""
        # The last one: an ELF's banner names the compiler's Debian version first ("gcc-14 (Debian 14.2.0-19)").
        found = re.findall(r"\bDebian (\d[\w.+~:-]*)", self.version)
        return found[-1] if found else None


_digests: dict[tuple[str, int, int], str] = {}


def digest(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        _digests[key] = h.hexdigest()[:16]
    return _digests[key]


def _bzimage_version(data: bytes) -> str:
    (ptr,) = struct.unpack_from("<H", data, 0x20E)
    if not ptr:
        return ""
    start = 0x200 + ptr
    end = data.find(b"\0", start, start + 512)
    return data[start:end].decode(errors="replace") if end > start else ""


def _elf_version(data: bytes) -> str:
    m = re.search(rb"Linux version (\S+ [^\0\n]*)", data)
    return m.group(1).decode(errors="replace") if m else ""


def _format_of(head: bytes) -> Arch | None:
    """The architecture whose image format head has (bzImage's setup header, arm64's Image header)."""
    for a in ARCHES.values():
        off, magic = a.image_magic
        if head[off:off + len(magic)] == magic:
            return a
    return None


def _elf_machine(head: bytes) -> int:
    return struct.unpack_from("<H", head, 18)[0] if len(head) >= 20 else -1


def inspect(path: Path, arch: Arch | None = None) -> ImageInfo:
    """What the image at path is; KernelSpecError when it is not a kernel image of arch (the host's
    by default)."""
    arch = arch or host_arch()
    if not path.is_file():
        if path.exists():
            raise KernelSpecError(f"kernel image {path} is not a regular file (a kernel image is a bzImage or "
                                  "vmlinux file)")
        raise KernelSpecError(f"kernel image {path} does not exist")
    try:
        with path.open("rb") as f:
            head = f.read(0x10200)  # the whole setup code (at most 127 sectors)
    except OSError as e:
        raise KernelSpecError(f"kernel image {path} is not readable: {e.strerror}") from None
    plain = head
    if head.startswith(b"\x1f\x8b\x08"):  # a gzip-compressed Image
        plain = decompress(path.read_bytes()) or b""
    found = _format_of(plain)
    if found is not None and found.name != arch.name:
        raise KernelSpecError(f"{path}: a kernel image of {found.debian}, not {arch.debian} (--arch {found.debian})")
    if found is not None and found.image_format == Kind.BZIMAGE.value:
        return ImageInfo(Kind.BZIMAGE, _bzimage_version(head), digest(path))
    if found is not None:
        return ImageInfo(Kind.IMAGE, _elf_version(plain if plain is not head else path.read_bytes()), digest(path))
    if head.startswith(ELF_MAGIC):
        if _elf_machine(head) != arch.elf_machine:
            others = [a.debian for a in ARCHES.values() if a.elf_machine == _elf_machine(head)]
            raise KernelSpecError(f"{path} is an ELF kernel of {others[0] if others else 'another architecture'}, "
                                  f"not {arch.debian}")
        return ImageInfo(Kind.ELF, _elf_version(path.read_bytes()), digest(path))
    raise KernelSpecError(f"{path} is not a kernel image (not a {arch.image_format}, not ELF)")


# --------------------------------------------------------------------------- decompression


def _zlib(blob: bytes) -> bytes:
    return zlib.decompressobj(wbits=31).decompress(blob)  # stops at the gzip member's end


def _xz(blob: bytes) -> bytes:
    return lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(blob)


def _lzma(blob: bytes) -> bytes:
    return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(blob)


def _bzip2(blob: bytes) -> bytes:
    return bz2.BZ2Decompressor().decompress(blob)


def _tool(*cmd: str) -> Callable[[bytes], bytes]:
    def run(blob: bytes) -> bytes:
        if shutil.which(cmd[0]) is None:
            return b""
        # Trailing bytes (the kernel appends the uncompressed size) make these tools
        # complain after writing the whole output: keep what came out.
        return subprocess.run(list(cmd), input=blob, capture_output=True, timeout=120).stdout

    return run


# Magic -> decompressor, for every compression a kernel can be built with.
COMPRESSIONS: tuple[tuple[str, bytes, Callable[[bytes], bytes]], ...] = (
    ("gzip", b"\x1f\x8b\x08", _zlib),
    ("xz", b"\xfd7zXZ\x00", _xz),
    ("zstd", b"\x28\xb5\x2f\xfd", _tool("zstd", "-qdc")),
    ("lz4", b"\x02\x21\x4c\x18", _tool("lz4", "-qdc")),
    ("lzo", b"\x89LZO", _tool("lzop", "-qdc")),
    ("bzip2", b"BZh", _bzip2),
    ("lzma", b"\x5d\x00\x00", _lzma),
)


def decompress(blob: bytes) -> bytes | None:
    """The data in blob if it starts with a known compressed stream that decompresses, else None."""
    for _, magic, how in COMPRESSIONS:
        if blob.startswith(magic):
            try:
                return how(blob) or None
            except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError, subprocess.SubprocessError):
                return None
    return None


def payload(data: bytes) -> bytes | None:
    """The uncompressed ELF vmlinux inside a bzImage, or None."""
    if len(data) >= 0x250 and data[0x202:0x206] == b"HdrS":
        (version,) = struct.unpack_from("<H", data, 0x206)
        if version >= 0x208:
            setup_sects = data[0x1F1] or 4
            off, length = struct.unpack_from("<II", data, 0x248)
            start = (setup_sects + 1) * 512 + off
            out = decompress(data[start:start + length])
            if out is not None and out.startswith(ELF_MAGIC):
                return out
    # No usable header fields: try every magic anywhere; a false one just fails.
    for _, magic, _how in COMPRESSIONS:
        i = data.find(magic)
        while i >= 0:
            out = decompress(data[i:])
            if out is not None and out.startswith(ELF_MAGIC):
                return out
            i = data.find(magic, i + 1)
    return None


def has_pvh_note(elf: bytes) -> bool:
    """XEN_ELFNOTE_PHYS32_ENTRY (type 18) in a "Xen" note: QEMU boots the ELF directly."""
    if len(elf) < 64 or elf[4] != 2:  # ELFCLASS64 only
        return False
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12: pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == 18:
                return True
            pos += 12 + (namesz + 3 & ~3) + (descsz + 3 & ~3)
    return False


def ikconfig(elf: bytes) -> str | None:
    """The configuration built into the kernel (CONFIG_IKCONFIG), or None."""
    start = elf.find(b"IKCFG_ST")
    end = elf.find(b"IKCFG_ED", start)
    if start < 0 or end < 0:
        return None
    try:
        return gzip.decompress(elf[start + 8:end]).decode(errors="replace")
    except (OSError, EOFError, zlib.error):
        return None


@record(frozen=True)
class Extracted:
    elf: Path | None  # the uncompressed vmlinux, when it has a PVH entry
    config: Path | None  # the built-in configuration, when there is one


def extract(image: Path, cache: Path) -> Extracted:
    """The PVH vmlinux and built-in config of image, cached under cache/<digest>.*"""
    key = digest(image)
    elf_path, cfg_path, done = (cache / f"{key}.elf", cache / f"{key}.config", cache / f"{key}.done")
    if not done.exists():
        data = image.read_bytes()
        elf = data if data.startswith(ELF_MAGIC) else payload(data)
        cache.mkdir(parents=True, exist_ok=True)
        if elf is not None:
            config = ikconfig(elf)
            if config is not None:
                _write(cfg_path, config.encode())
            if elf is not data and has_pvh_note(elf):
                _write(elf_path, elf)
        done.touch()
    if image.read_bytes()[:4] == ELF_MAGIC:
        return Extracted(image, cfg_path if cfg_path.exists() else None)
    return Extracted(elf_path if elf_path.exists() else None, cfg_path if cfg_path.exists() else None)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.rename(path)
