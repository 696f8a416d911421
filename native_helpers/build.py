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
from typing import Any

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


def _rel(path: Path) -> str:
    return os.path.relpath(path, Path.cwd())


HEADERS = sorted(HERE.glob("kc_*.h"))
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
