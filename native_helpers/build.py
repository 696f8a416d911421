"""cffi (API mode) builder for kconform's native helpers.

Every ``kc_*.h`` header is the single source of the declarations: the cdef is
derived from it (integer ``#define``s are kept, include guards and includes
dropped, array sizes named by a ``#define`` replaced by their value), and every
``kc_*.c`` file is compiled into the extension ``conformance._native``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from cffi import FFI

HERE = Path(__file__).resolve().parent
_DEFINE = re.compile(r"^#define\s+(KC_\w+)\s+(-?(?:0x[0-9a-fA-F]+|\d+))\s*(?:/\*.*)?$")


def cdef_from_header(text: str) -> str:
    """Turn one helper header into cffi cdef text."""
    consts: dict[str, str] = {}
    out: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        m = _DEFINE.match(stripped)
        if m:
            consts[m.group(1)] = m.group(2)
            out.append(f"#define {m.group(1)} {m.group(2)}")
            continue
        if stripped.startswith("#"):
            continue
        out.append(line)
    body = "\n".join(out)
    for name, value in consts.items():
        body = re.sub(rf"\[{name}\]", f"[{value}]", body)
    return body


def defines(text: str) -> dict[str, int]:
    """The integer ``#define``s of one helper header, in header order."""
    found: dict[str, int] = {}
    for line in text.splitlines():
        m = _DEFINE.match(line.strip())
        if m:
            found[m.group(1)] = int(m.group(2), 0)
    return found


class EnumSpec(NamedTuple):
    """A Python enum that mirrors the ``#define``s named ``<prefix><MEMBER>`` of one header."""

    name: str
    prefix: str
    flag: bool = False  # IntFlag (with NONE = 0) instead of IntEnum
    skip: tuple[str, ...] = ()  # suffixes of that prefix that belong to another list
    rename: tuple[tuple[str, str], ...] = ()  # (suffix, Python member name) where they differ
    doc: str = ""


# Per header: the enums derived from it (a module conformance/_<header>_h.py written at build time).
# None is kept by hand: what an enum says in words is a mapping beside it (conformance.native.uring.VIA_LABEL).
ENUMS: dict[str, tuple[EnumSpec, ...]] = {
    "kc_harness": (EnumSpec("HarnessError", "KC_HE_", doc="What went wrong outside the behaviour (every family)."),),
    "kc_clone": (
        EnumSpec("Syscall", "KC_SYS_"),
        EnumSpec("ArgsAt", "KC_ARGS_", rename=(("BADPTR", "BAD_POINTER"),), doc="Where the clone_args buffer lives."),
        EnumSpec("Ptr", "KC_PTR_"),
        EnumSpec("Stack", "KC_STACK_", rename=(("KERNEL", "KERNEL_ADDR"),)),
        EnumSpec("Action", "KC_ACT_"),
        EnumSpec("Setup", "KC_SETUP_", flag=True, rename=(("SETUID_NOBODY", "DROP_PRIVILEGES"),)),
    ),
    "kc_pidfd": (
        EnumSpec("PidfdScenario", "KC_PS_"),
        EnumSpec("PidfdProbe", "KC_PQ_", doc="kc_pfd_probe(): what is probed on a pidfd of this process."),
        EnumSpec("PidfdValue", "KC_PV_", doc="Result slots of a pidfd scenario."),
        EnumSpec("PidfdTarget", "KC_PT_", doc="KC_PS_OPEN targets."),
        EnumSpec("PidfdPoll", "KC_PP_", doc="KC_PS_POLL variants."),
        EnumSpec("PidfdWait", "KC_PW_", doc="KC_PS_WAITID variants."),
        EnumSpec("PidfdSignal", "KC_PSIG_", doc="KC_PS_SIGNAL variants."),
        EnumSpec("PidfdGetfd", "KC_PG_", doc="KC_PS_GETFD variants."),
        EnumSpec("PidfdFs", "KC_PF_", doc="KC_PS_PIDFS variants."),
        EnumSpec("PidfdSetns", "KC_PN_", doc="KC_PS_SETNS variants."),
        EnumSpec("PidfdHandle", "KC_PH_", doc="KC_PS_FHANDLE variants."),
        EnumSpec("PidfdInfo", "KC_PI_", doc="KC_PS_INFO variants."),
        EnumSpec("PidfdThread", "KC_PTH_", doc="KC_PS_THREAD variants."),
        EnumSpec("PidfdWorker", "KC_WK_", doc="KC_PS_WORKER: which worker."),
        EnumSpec("PidfdWorkerOp", "KC_WO_", doc="KC_PS_WORKER: what is done."),
        EnumSpec("Clone71", "KC_C71_", doc="KC_PS_CLONE71 variants."),
        EnumSpec("Coredump", "KC_PC_", doc="KC_PS_COREDUMP variants."),
        EnumSpec("CoredumpPattern", "KC_PCI_", doc="KC_PS_COREDUMP: invalid patterns."),
        EnumSpec("CoredumpAnswer", "KC_PCA_", doc="KC_PS_COREDUMP: the server's answers."),
    ),
    "kc_uring": (
        EnumSpec("Via", "KC_VIA_", doc="How the measured open is issued."),
        EnumSpec("Op", "KC_OP_"),
        EnumSpec("Setup", "KC_US_", flag=True),
        EnumSpec("WorkerKind", "KC_W_"),
        EnumSpec("How", "KC_UR_", skip=("RING_PLAIN", "RING_IOWQ", "RING_SQPOLL", "NOT_CALLED")),
        EnumSpec("Ring", "KC_UR_RING_"),
    ),
    "kc_workers": (
        EnumSpec("WorkerKind", "KC_WK_", skip=("PATH", "REQS", "THREADS", "NOT_CALLED")),
        EnumSpec("WorkerAction", "KC_WA_"),
        EnumSpec("SetupStep", "KC_WS_"),
    ),
    "kc_fchroot": (
        EnumSpec("Subject", "KC_FCS_", doc="How the process that calls fchroot() is made."),
        EnumSpec("Before", "KC_FCB_", doc="What the subject does before fchroot()."),
    ),
}


def enum_members(spec: EnumSpec, consts: dict[str, int]) -> list[tuple[str, int]]:
    """(member name, value) of one derived enum, in header order."""
    rename = dict(spec.rename)
    out = [("NONE", 0)] if spec.flag else []
    for name, value in consts.items():
        suffix = name.removeprefix(spec.prefix)
        if suffix != name and suffix not in spec.skip:
            out.append((rename.get(suffix, suffix), value))
    return out


def enums_module(header: str) -> str:
    """Python source of conformance/_<header>_h.py: the enums of ENUMS[header]."""
    consts = defines((HERE / f"{header}.h").read_text())
    out = [f'"""Enums mirroring the #defines of native_helpers/{header}.h: written by native_helpers/build.py',
           'at build time (see ENUMS there), never by hand."""', "", "import enum", ""]
    for spec in ENUMS[header]:
        base = "IntFlag" if spec.flag else "IntEnum"
        out += ["", f"class {spec.name}(enum.{base}):",
                f'    """{spec.doc + " " if spec.doc else ""}{spec.prefix}* of {header}.h."""', ""]
        out += [f"    {member} = {value}" for member, value in enum_members(spec, consts)]
        out.append("")
    return "\n".join(out)


def write_enums(package_dir: str) -> list[str]:
    """Write every conformance/_<header>_h.py into package_dir: their paths."""
    paths = []
    for header in ENUMS:
        path = os.path.join(package_dir, f"_{header}_h.py")
        text = enums_module(header)
        if not os.path.exists(path) or Path(path).read_text() != text:
            Path(path).write_text(text)
        paths.append(path)
    return paths


def _rel(path: Path) -> str:
    return os.path.relpath(path, Path.cwd())


HEADERS = sorted(HERE.glob("kc_*.h"), key=lambda h: h.name != "kc_harness.h")  # its struct is in every result
SOURCES = sorted(HERE.glob("kc_*.c"))
CFLAGS = ["-O2", "-Wall", "-Wextra", "-std=gnu11"]
SERVER = "kconform-server"


def build_server(compiler: Any, out_dir: str, temp_dir: str) -> str:
    """Compile and link the server executable with a setuptools compiler: its path."""
    objects = compiler.compile([_rel(s) for s in [*SOURCES, HERE / "server_main.c"]],
                               output_dir=os.path.join(temp_dir, "server"), include_dirs=[_rel(HERE)],
                               extra_postargs=CFLAGS)
    compiler.link_executable(objects, SERVER, output_dir=out_dir)
    return os.path.join(out_dir, SERVER)


ffibuilder = FFI()
ffibuilder.cdef("\n".join(cdef_from_header(h.read_text()) for h in HEADERS))
ffibuilder.set_source(
    "conformance._native",
    "\n".join(f'#include "{h.name}"' for h in HEADERS),
    sources=[_rel(s) for s in SOURCES],
    include_dirs=[_rel(HERE)],
    extra_compile_args=CFLAGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
