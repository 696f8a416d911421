"""A Debian index refresh that fails is an error naming the mirror (exit status 3), fails fast (a refused
connection is tried once, not once per suite with apt's retries), and leaves the indexes as they were: the
sources, the lists, the codenames, the kernel list and the freshness stamp (so a later fetch of another
series still finds it in the last good indexes).

Each run uses a private KCONFORM_CACHE holding a stand-in for an earlier good refresh."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from conformance.vm import debian
from tests.helpers import kc

REFUSED = "http://127.0.0.1:1/debian"


def _good_state(cache: Path) -> Path:
    root = cache / "apt" / "amd64"
    (root / "lists").mkdir(parents=True)
    (root / "lists" / "deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages").write_text("Package: x\n")
    (root / "sources.list").write_text(f"deb [signed-by={debian.KEYRING}] {debian.DEFAULT_MIRROR} trixie main\n")
    (root / "mirror").write_text(f"{debian.DEFAULT_MIRROR} {debian.DEFAULT_SECURITY_MIRROR}")
    (root / "codenames.json").write_text('{"stable": "trixie"}')
    (root / "kernels-2.json").write_text("[]")
    (root / "status").touch()
    (root / "updated").touch()
    old = time.time() - 3600
    os.utime(root / "updated", (old, old))
    return root


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("argv", [
    ["kernels", "fetch", "--refresh", "--mirror", REFUSED, "debian:6.12"],
    ["kernels", "fetch", "--mirror", REFUSED, "debian:7.3"],  # another mirror than the indexes': a refresh
    ["kernels", "list", "--available", "--refresh", "--mirror", REFUSED],
], ids=["fetch-refresh", "fetch-other-mirror", "list-available-refresh"])
def test_failed_refresh_is_an_error_and_keeps_the_indexes(tmp_path: Path, argv: list[str]) -> None:
    if not Path("/usr/lib/apt/apt-helper").exists():
        pytest.skip("needs apt (/usr/lib/apt/apt-helper)")
    cache = tmp_path / "cache"
    root = _good_state(cache)
    before = _snapshot(root)
    start = time.monotonic()
    p = subprocess.run([*kc.KCONFORM, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL, env={**os.environ, "KCONFORM_CACHE": str(cache)})
    took = time.monotonic() - start
    assert p.returncode == 3, p.stderr[-2000:]
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("kconform: error: ")]
    assert len(errors) == 1 and "cannot refresh the Debian indexes from http://127.0.0.1:1/debian" in errors[0], \
        p.stderr
    assert "Traceback" not in p.stderr
    assert took < 30, f"a refused mirror took {took:.1f} s"
    assert _snapshot(root) == before
    assert not (cache / "kernels").exists()  # nothing downloaded or unpacked
