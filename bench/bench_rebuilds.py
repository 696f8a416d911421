#!/usr/bin/env python3
"""Many builds of one kernel tree, each booted: N one-line source changes
(a tagged string in init/version.c), one bzImage each, then all of them
through ``kconform vm``; finally the tree itself is rebuilt once more and
booted at the same path, which must boot the new image.

    python bench/bench_rebuilds.py --tree ~/linux --out /tmp/rebuilds [--count 16] [-j 2]
                                   [-- kconform run options for the guest, e.g. --family clone3]

The tree must already be configured and built (everything the guest needs built in).
Prints per build: build seconds, image digest, compression, and the VM outcome.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conformance.host.arch import host_arch
from conformance.vm import images

TAG = "kconform_rebuild_tag"


def tag_source(tree: Path, n: int, original: str) -> None:
    line = f'const char {TAG}[] __attribute__((used)) = "kconform rebuild {n}";\n'
    (tree / "init/version.c").write_text(original + line)


def build(tree: Path, jobs: int) -> float:
    t = time.monotonic()
    subprocess.run(["nice", "make", "-s", f"-j{jobs}", "bzImage"], cwd=tree, check=True,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - t


def vm(specs: list[str], out: Path, jobs: int, extra: list[str]) -> tuple[int, float]:
    cmd = [str(Path(sys.executable).with_name("kconform")), "vm", "--out", str(out), "-j", str(jobs)]
    for s in specs:
        cmd += ["--kernel", s]
    t = time.monotonic()
    rc = subprocess.run([*cmd, "--", *extra] if extra else cmd).returncode
    return rc, time.monotonic() - t


def outcome(d: Path) -> str:
    meta = d / "vm-timings.json"
    if not meta.exists():
        return "no result"
    m = json.loads(meta.read_text())
    run = json.loads((d / "run.json").read_text()) if (d / "run.json").exists() else {"cases": []}
    counts: dict[str, int] = {}
    for c in run["cases"]:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    return f"{m['outcome']} boot {m['boot_s'] or 0:.1f} s total {m['total_s']:.1f} s {counts}"


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("-j", type=int, default=2, dest="jobs")
    ap.add_argument("--skip-build", action="store_true", help="boot the images already in --out")
    ns = ap.parse_args(argv)
    tree, out = ns.tree.resolve(), ns.out.resolve()
    imgdir = out / "images"
    imgdir.mkdir(parents=True, exist_ok=True)
    version_c = tree / "init/version.c"
    original = version_c.read_text()
    if TAG in original:
        original = original[:original.index(f"const char {TAG}")]
    paths = [imgdir / f"bzImage-{n:02d}" for n in range(1, ns.count + 1)]
    try:
        if not ns.skip_build:
            for n, p in enumerate(paths, 1):
                tag_source(tree, n, original)
                secs = build(tree, ns.jobs)
                shutil.copyfile(tree / host_arch().image_in_tree, p)
                info = images.inspect(p)
                print(f"built {p.name} in {secs:.0f} s: {info.digest} {info.version[:60]}", flush=True)
        rc, secs = vm([str(p) for p in paths], out / "vm", ns.jobs, extra)
        print(f"\nkconform vm over {len(paths)} images: exit {rc} in {secs:.0f} s")
        for p in paths:
            print(f"{p.name}: {outcome(out / 'vm' / p.name)}")
        # The same path twice: the second boot must use the second build.
        digests = []
        for n in (ns.count + 1, ns.count + 2):
            tag_source(tree, n, original)
            build(tree, ns.jobs)
            digests.append(images.inspect(tree / host_arch().image_in_tree).digest)
            rc, secs = vm([str(tree)], out / f"tree-{n}", 1, extra)
            cmd = (out / f"tree-{n}" / tree.name / "qemu-command.txt").read_text()
            booted = digests[-1] in cmd or str(tree / host_arch().image_in_tree) in cmd
            print(f"tree build {n}: image {digests[-1]}, exit {rc} in {secs:.0f} s, booted that image: {booted}")
    finally:
        version_c.write_text(original)
    return 0


if __name__ == "__main__":
    sys.exit(main())
