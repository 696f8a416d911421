"""Run a command in a new user namespace with a chosen mapping (as a container runtime would).

    python -m tests.helpers.nsrun [--map INNER:OUTER:COUNT] [--uid N] [--unmapped] -- CMD...

The parent stays outside and writes the maps (it needs CAP_SETUID/CAP_SETGID
there, e.g. real root); the child then becomes --uid (default 0) and execs
CMD.  --unmapped writes no map at all (uid and gid read as 65534 inside).
Exit status: the command's (128 + N when a signal N ended it).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys

CLONE_NEWUSER = 0x10000000


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="nsrun")
    p.add_argument("--map", default="0:100000:65536", help="uid and gid map line INNER:OUTER:COUNT")
    p.add_argument("--uid", type=int, default=0, help="uid/gid to become inside")
    p.add_argument("--unmapped", action="store_true", help="write no maps (nobody inside)")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    ns = p.parse_args(argv)
    cmd = ns.cmd[1:] if ns.cmd[:1] == ["--"] else ns.cmd
    if not cmd:
        p.error("a command is needed")
    libc = ctypes.CDLL(None, use_errno=True)
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            if libc.unshare(CLONE_NEWUSER) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER)")
            os.write(to_parent_w, b"u")
            if os.read(to_child_r, 1) != b"m":
                os._exit(125)
            if not ns.unmapped:
                os.setgroups([])
                os.setresgid(ns.uid, ns.uid, ns.uid)
                os.setresuid(ns.uid, ns.uid, ns.uid)
            os.execvp(cmd[0], cmd)
        except OSError as e:
            print(f"nsrun: {e}", file=sys.stderr)
        os._exit(126)
    os.read(to_parent_r, 1)
    if not ns.unmapped:
        inner, outer, count = ns.map.split(":")
        line = f"{inner} {outer} {count}\n"
        with open(f"/proc/{pid}/uid_map", "w") as f:
            f.write(line)
        with open(f"/proc/{pid}/gid_map", "w") as f:
            f.write(line)
    os.write(to_child_w, b"m")
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # pass on to the command
        signal.signal(s, lambda signum, frame: os.kill(pid, signum))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
