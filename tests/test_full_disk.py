"""A full filesystem: reports are atomic, so a run that cannot write its final report leaves the
provisional "incomplete" one (never a truncated file saying failures="0") and says so in one line.

The filesystem is a small tmpfs mounted in a private mount namespace (unshare -m): nothing stays mounted.
"""

from __future__ import annotations

import shlex
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.helpers import kc


def test_full_disk_leaves_no_green_report(tmp_path: Path) -> None:
    kc.need_root()
    kc.need_program("unshare")
    small, out = tmp_path / "small", tmp_path / "out"
    small.mkdir()
    out.mkdir()
    run = shlex.join([*kc.KCONFORM, "run", "-q", "--family", "clone3", "--junit", str(small / "r.xml"),
                      "--json", str(small / "r.json")])
    script = (f"mount -t tmpfs -o size=16k,mode=0700 kconform-selftest {shlex.quote(str(small))} || exit 99\n"
              f"{run} 2> {shlex.quote(str(out / 'stderr'))}\n"
              f"echo $? > {shlex.quote(str(out / 'rc'))}\n"
              f"cp -a {shlex.quote(str(small))}/. {shlex.quote(str(out))}/\n")
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    if p.returncode == 99:
        import pytest

        pytest.skip(f"cannot mount a tmpfs in a private mount namespace: {p.stderr.strip()}")
    assert (out / "rc").read_text().strip() == "3", (out / "stderr").read_text()[-2000:]
    lines = (out / "stderr").read_text().strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in lines[0], lines
    junit = ET.parse(out / "r.xml").getroot()  # parses: not truncated
    names = [t.get("name") for t in junit.iter("testcase")]
    assert names == ["interrupted"] and junit.get("errors") == "1", names[:5]
    for path in (out / "r.xml", out / "r.json"):  # the provisional reports name the real cause, in place
        text = path.read_text()
        assert "final report could not be written (ENOSPC" in text and "SIGKILL" not in text, text[:2000]
    assert kc.load(out / "r.json")["properties"]["run.status"] == "final report not written: ENOSPC"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "temporary files left"
    assert str(small) not in Path("/proc/self/mountinfo").read_text()
