"""The /proc reader: parsers pinned to captured lines, readers on this process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conformance.host import procfs
from conformance.host.uapi import PF_KTHREAD

# A comm with a space and a ')' (prctl allows both); fields from a 6.18 io-wq worker.
STAT = "4242 (iou-wrk) 1)) S 4200 4242 4200 0 -1 4194368 0 0 0 0 0 0 0 0 20 0 2 0 123 0 0 18446744073709551615\n"
STATUS = "Name:\tiou-wrk-4242\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nPid:\t4243\nPPid:\t4200\n" \
         "SigPnd:\t0000000000000200\nSigBlk:\tfffffffffffbfeff\nKthread:\t0\n"


def test_parse_stat_splits_at_the_last_paren() -> None:
    st = procfs.parse_stat(STAT)
    assert st == procfs.Stat(4242, "iou-wrk) 1)", "S", 4200, 4194368, start_time=123)


def test_parse_stat_rejects_garbage() -> None:
    assert procfs.parse_stat("") is None
    assert procfs.parse_stat("12 (x) S") is None


def test_task_from_status() -> None:
    t = procfs.task_from(4243, "iou-wrk-4242", STAT, STATUS)
    assert t is not None
    assert (t.tgid, t.ppid, t.kthread, t.sig_pending, t.flags) == (4242, 4200, 0, 0x200, 4194368)
    no_line = procfs.task_from(4243, "x", STAT, STATUS.replace("Kthread:\t0\n", ""))
    assert no_line is not None and no_line.kthread is None


def test_parse_cgroup_takes_the_v2_line() -> None:
    assert procfs.parse_cgroup("12:cpu:/a\n0::/user.slice/x\n") == "/user.slice/x"
    assert procfs.parse_cgroup("12:cpu:/a\n") is None


def test_readers_on_self() -> None:
    me = procfs.read_task(os.getpid())
    assert me is not None and me.tgid == os.getpid() and me.ppid == os.getppid()
    assert not me.flags & PF_KTHREAD
    assert os.getpid() in procfs.tids(os.getpid())
    assert os.getpid() in procfs.children_of(os.getppid())
    assert any(t.tid == os.getpid() for t in procfs.tasks_of(os.getpid()))


def test_read_text_reads_line_ends_as_text(tmp_path: Path) -> None:
    """A serial console writes "\r\n": the VM runner's markers must still end at the line's end."""
    f = tmp_path / "console.log"
    f.write_bytes(b"KC[4.97] cmd-start\r\nold mac\rline\n\xff\n")
    assert procfs.read_text(f) == "KC[4.97] cmd-start\nold mac\nline\n\ufffd\n"
    assert procfs.read_text(tmp_path / "missing") == ""


def test_kthreads_named_finds_kernel_threads_only() -> None:
    """kthreadd's children (or the scan without CONFIG_PROC_CHILDREN): the kernel threads of a name."""
    kthreadd = procfs.read_task(procfs.KTHREADD)
    if kthreadd is None or not kthreadd.is_kthread:
        pytest.skip("kthreadd is not visible in this pid namespace")
    found = procfs.kthreads_named("ksoftirqd/0")
    assert len(found) == 1 and found[0].is_kthread and found[0].ppid == procfs.KTHREADD
    assert procfs.kthreads_named(procfs.comm_of(os.getpid())) == []  # a user process is never one
