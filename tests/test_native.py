"""The generic marshalling of conformance.native: dataclasses to the headers' structs and back."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from conformance import native
from conformance.native import uring

WIRE: Any = importlib.import_module("kconform_cases.clone3.wire")  # the clone3 family's records
CloneRequest, CloneResult, Ptr, Ref, Setup = WIRE.CloneRequest, WIRE.CloneResult, WIRE.Ptr, WIRE.Ref, WIRE.Setup


def test_request_fields_reach_the_struct() -> None:
    c = native.new_struct("kc_clone_req")
    native.fill(c, CloneRequest(flags=1 << 63, exit_signal=-1, set_tid=(1, 42), set_tid_ptr=Ptr.VALID,
                                setup=Setup.HANDLE_USR1 | Setup.IGNORE_USR2))
    assert c.flags == 1 << 63 and c.exit_signal == 0xFFFFFFFFFFFFFFFF  # masked to the unsigned field
    assert list(c.set_tid)[:3] == [1, 42, 0] and c.set_tid_ptr == Ptr.VALID and c.setup == 0x3


def test_an_unresolved_reference_never_reaches_c() -> None:
    with pytest.raises(TypeError, match="unresolved reference"):
        native.fill(native.new_struct("kc_clone_req"), CloneRequest(size=Ref.PAGE_SIZE))


def test_strings_are_bounded_and_derived_fields_copied() -> None:
    c = native.new_struct("kc_open_req")
    native.fill(c, uring.OpenRequest(path="warm", warm=("a", "b")))
    assert c.nwarm == 2 and list(c.warm[1])[:2] == [b"b", b"\0"]
    with pytest.raises(ValueError, match="longer than"):
        native.fill(c, uring.OpenRequest(path="x" * uring.PATH_MAX))


def test_results_are_built_from_their_type_hints() -> None:
    c = native.new_struct("kc_clone_res")
    c.ret, c.pending_lo, c.report.valid, c.report.pid = 7, 0b101, 1, 99
    r = native.read(CloneResult, c)
    assert r.ret == 7 and r.pending == frozenset({1, 3}) and r.child is not None and r.child.pid == 99
    assert native.read(CloneResult, native.new_struct("kc_clone_res")).child is None


def test_counted_arrays_keep_only_the_filled_entries() -> None:
    c = native.new_struct("kc_open_res")
    c.nthreads, c.threads[0].tid, c.threads[0].kthread, c.threads[1].kthread = 2, 5, -1, 0
    r = native.read(uring.OpenResult, c)
    assert [t.tid for t in r.tasks] == [5, 0] and [t.kthread for t in r.tasks] == [None, 0]
    c.nthreads = -1  # -errno: nothing listed
    assert native.read(uring.OpenResult, c).tasks == ()
