"""A truncated /proc/config.gz is no config, not a traceback (bind-mounted in a private mount namespace)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.helpers import kc


def test_truncated_config_gz(tmp_path: Path) -> None:
    kc.need_root()
    kc.need_program("unshare")
    if not os.path.exists("/proc/config.gz"):
        pytest.skip("no /proc/config.gz to stand in for")
    bad = tmp_path / "config.gz"
    full = Path("/proc/config.gz").read_bytes()
    bad.write_bytes(full[: len(full) // 2])  # truncated: EOFError when read
    out = tmp_path / "r.json"
    run = shlex.join([*kc.KCONFORM, "run", "-q", "--family", "clone3", "-k", "size-64", "--json", str(out)])
    script = f"mount --bind {shlex.quote(str(bad))} /proc/config.gz || exit 99\n{run}\n"
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    if p.returncode == 99:
        pytest.skip(f"cannot bind-mount over /proc/config.gz: {p.stderr.strip()}")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
    props = kc.load(out)["properties"]
    assert props["kernel.config_source"] != "/proc/config.gz"
