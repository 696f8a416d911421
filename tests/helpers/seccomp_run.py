"""Run a command under a seccomp filter that makes chosen syscalls fail, as container runtimes' profiles do.

    python -m tests.helpers.seccomp_run [--errno ENOSYS] [--syscall 435 ...] -- CMD...

Default: clone3 (435 on x86_64) answers ENOSYS, which is what common default
profiles do so that glibc falls back to clone().  The filter is installed with
PR_SET_NO_NEW_PRIVS in this process, then CMD is exec'ed (filters survive exec).
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import os
import platform
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
CLONE3 = {"x86_64": 435, "aarch64": 435}
# BPF opcodes
LD_W_ABS = 0x20
JEQ_K = 0x15
RET_K = 0x06


def insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def program(arch: int, syscalls: list[int], err: int) -> bytes:
    out = [insn(LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
           insn(JEQ_K, 1, 0, arch),
           insn(RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
           insn(LD_W_ABS, 0, 0, 0)]  # seccomp_data.nr
    for nr in syscalls:
        out += [insn(JEQ_K, 0, 1, nr), insn(RET_K, 0, 0, SECCOMP_RET_ERRNO | err)]
    out.append(insn(RET_K, 0, 0, SECCOMP_RET_ALLOW))
    return b"".join(out)


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(syscalls: list[int], err: int) -> None:
    machine = platform.machine()
    code = program(AUDIT_ARCH[machine], syscalls, err)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="seccomp_run")
    p.add_argument("--errno", default="ENOSYS", help="errno name the filtered calls return")
    p.add_argument("--syscall", type=int, action="append", help="syscall number (default: clone3)")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    ns = p.parse_args(argv)
    cmd = ns.cmd[1:] if ns.cmd[:1] == ["--"] else ns.cmd
    if not cmd:
        p.error("a command is needed")
    install(ns.syscall or [CLONE3[platform.machine()]], getattr(errno, ns.errno))
    os.execvp(cmd[0], cmd)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
