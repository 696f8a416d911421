"""Every Python record that crosses into C against its struct, and every mirrored #define against its header.

The pairs are declared where the records are (``@native.wire("kc_..._res", internal=(...))``): a family's
in ``cases/<family>/wire.py``, the core's in conformance.  The marshalling refuses an undeclared record, so
what is checked here is what the calls use: field names both ways (a C field without a Python twin is an
error unless the declaration lists it as internal: padding, the helper's own state), nested records against
nested structs, and no struct without a record.  The enums mirroring ``#define``s are written by
native_helpers/build.py from the headers, never by hand; a constant of conformance.host.uapi that a header also
defines (``KC_<name>``) has its value.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conformance import native
from conformance._native import ffi, lib
from conformance.host import uapi
from conformance.host.records import record
from conformance.native import Wire, uring, wire_drift
from conformance.suite import registry

TOP = Path(__file__).resolve().parent.parent
MARSHALLERS = {"call_out": 1, "run_harness": 1, "call_array": 1, "read": 0}  # helper -> where its record is


def _load_families() -> list[ModuleType]:
    return [importlib.import_module(m.name)
            for m in pkgutil.walk_packages([str(registry.cases_dir())], "kconform_cases.")
            if not m.name.rsplit(".", 1)[-1].startswith("test_")]


CLONE_WIRE: Any = importlib.import_module("kconform_cases.clone3.wire")
FAMILY_STRUCTS = {"kc_clone_": "clone3", "kc_child_": "clone3", "kc_pfd_": "pidfd"}  # struct prefix -> family


def _build() -> Any:
    spec = importlib.util.spec_from_file_location("kc_build", TOP / "native_helpers" / "build.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_record_matches_its_struct() -> None:
    _load_families()
    problems = [p for cls in native.WIRE for p in wire_drift(cls)]
    assert problems == []


def test_family_records_live_in_their_family() -> None:
    """A family's structs have their records in its ``wire`` module, found by importing the families (the
    core's conformance.native keeps only the harness contract)."""
    _load_families()
    homes = {native.WIRE[cls].struct: cls.__module__ for cls in native.WIRE}
    for prefix, family in FAMILY_STRUCTS.items():
        mine = {struct: home for struct, home in homes.items() if struct.startswith(prefix)}
        assert mine, prefix
        assert set(mine.values()) == {f"{registry.CASES_PACKAGE}.{family}.wire"}, mine
    assert homes["kc_harness"] == "conformance.native"


def test_every_struct_has_a_record() -> None:
    _load_families()
    structs = {name for name in ffi.list_types()[1] if name.startswith("kc_")}
    assert structs - {w.struct for w in native.WIRE.values()} == set()


def _marshalled() -> list[tuple[str, str, str, str | None]]:
    """(file, record class name, marshalling helper, C function) of every call that names its record."""
    found = []
    for path in [*(TOP / "conformance").rglob("*.py"), *(TOP / "cases").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            at = MARSHALLERS.get(fn)
            arg = node.args[at] if at is not None and len(node.args) > at else None
            if not isinstance(arg, ast.Name) or not arg.id.lstrip("_")[:1].isupper():  # a class, not os.read(fd)
                continue
            first = node.args[0]
            cfunc = first.value if at == 1 and isinstance(first, ast.Constant) and isinstance(first.value, str) \
                else None
            found.append((str(path.relative_to(TOP)), arg.id, fn, cfunc))
    return found


def test_records_named_in_calls_are_declared_for_that_struct() -> None:
    """Read from the source: every run_harness/call_out/call_array/read names a @wire record of its struct."""
    families = _load_families()
    by_name: dict[str, list[type]] = {}
    for cls in native.WIRE:
        by_name.setdefault(cls.__name__, []).append(cls)
    calls = _marshalled()
    assert len(calls) >= 10, calls  # the scan finds the calls (a broken scan must not pass silently)
    problems = []
    for where, name, fn, cfunc in calls:
        classes = by_name.get(name, [])
        if not classes:
            problems.append(f"{where}: {fn}(... {name} ...) but {name} is not declared with @wire")
            continue
        if cfunc is not None:
            params = ffi.typeof(getattr(lib, cfunc)).args
            out = params[-2] if fn == "call_array" else params[-1]
            if not any(out.item.cname == f"struct {native.WIRE[c].struct}" for c in classes):
                problems.append(f"{where}: {cfunc} fills {out.item.cname}, {name} is "
                                f"{[native.WIRE[c].struct for c in classes]}")
    assert families and problems == []


def test_a_drifted_record_is_reported() -> None:
    """A copy of the pidfd result with one field renamed and one dropped: both directions are reported."""

    @record(frozen=True)
    class Drifted:
        harness: native.HarnessStatus
        v: tuple[int, ...]
        txt: str  # C calls it "text"; and "present" has no twin at all

    problems = wire_drift(Drifted, Wire("kc_pfd_res", frozenset()))
    assert any("Drifted.txt has no field in struct kc_pfd_res" in p for p in problems), problems
    assert any("kc_pfd_res.text has no twin" in p for p in problems), problems
    assert any("kc_pfd_res.present has no twin" in p for p in problems), problems
    assert len(problems) == 3, problems
    stale = wire_drift(Drifted, Wire("kc_pfd_res", frozenset({"present", "text", "gone", "v"})))
    assert any("internal 'gone' is not a field" in p for p in stale), stale
    assert any("internal 'v' also has a Python twin" in p for p in stale), stale
    assert wire_drift(Drifted, Wire("kc_no_such", frozenset())) == [
        "Drifted: struct kc_no_such is not declared in any kc_*.h header"]

    @record(frozen=True)
    class NestedDrift:
        harness: uring.OpenRequest  # a record of another struct where C nests struct kc_harness
        present: tuple[int, ...]
        v: tuple[int, ...]
        text: str

    nested = wire_drift(NestedDrift, Wire("kc_pfd_res", frozenset()))
    assert nested == ["NestedDrift.harness: OpenRequest is struct kc_open_req, C has struct kc_harness"], nested


def test_an_undeclared_record_never_crosses() -> None:
    @record(frozen=True)
    class Undeclared:
        ret: int

    with pytest.raises(TypeError, match="not declared with @wire"):
        native.read(Undeclared, native.new_struct("kc_clone_res"))
    with pytest.raises(TypeError, match="declared @wire"):
        native.read(CLONE_WIRE.CloneRequest, native.new_struct("kc_clone_res"))


def test_derived_enums_are_the_headers_defines() -> None:
    build = _build()
    for header, specs in build.ENUMS.items():
        consts = build.defines((TOP / "native_helpers" / f"{header}.h").read_text())
        generated = importlib.import_module(f"conformance._{header}_h")
        for spec in specs:
            members = [(m.name, int(m)) for m in getattr(generated, spec.name)]
            if spec.flag:
                members = [("NONE", 0), *members]
            assert members == build.enum_members(spec, consts), (header, spec.name)
            assert build.enum_members(spec, consts)[int(spec.flag):], f"{spec.prefix}* matched nothing"


def _mirrors(members: list[tuple[str, int]], consts: dict[str, int]) -> str | None:
    """The ``KC_<PREFIX>_`` prefix whose defines every member matches by name and value, or None."""
    first = members[0][0]
    for name in consts:
        prefix = name.removesuffix(first)
        if prefix != name and prefix.startswith("KC_") and all(consts.get(prefix + m) == v for m, v in members):
            return prefix
    return None


def test_no_enum_mirrors_defines_by_hand() -> None:
    """An enum of a family or of the core loaded with them whose members are a header's ``KC_<PREFIX>_*``
    defines is a generated one (conformance._kc_*_h), never one typed by hand."""
    build = _build()
    consts = {name: value for h in (TOP / "native_helpers").glob("kc_*.h")
              for name, value in build.defines(h.read_text()).items()}
    _load_families()
    modules = [m for n, m in list(sys.modules.items())
               if n.startswith((f"{registry.CASES_PACKAGE}.", "conformance.")) and not n.startswith("conformance._kc_")]
    hand = []
    for mod in modules:
        for name, obj in vars(mod).items():
            mine = isinstance(obj, type) and obj.__module__ == mod.__name__
            if mine and issubclass(obj, enum.IntEnum | enum.IntFlag):
                members = [(m.name, int(m)) for m in obj if m.name != "NONE"]
                prefix = _mirrors(members, consts) if len(members) > 1 else None
                if prefix is not None:
                    hand.append(f"{mod.__name__}.{name} mirrors {prefix}*")
    assert len(modules) > 20 and hand == []


def test_family_records_live_in_their_wire_module() -> None:
    _load_families()
    misplaced = [f"{cls.__module__}.{cls.__qualname__}" for cls in native.WIRE
                 if cls.__module__.startswith(registry.CASES_PACKAGE + ".") and not cls.__module__.endswith(".wire")]
    assert misplaced == []
    homes = {cls.__module__.split(".")[1] for cls in native.WIRE if cls.__module__.startswith("kconform_cases.")}
    assert {"user_workers", "vhost", "io_uring", "fchroot"} <= homes, homes  # the scan sees the moved records


def test_a_drifted_family_record_is_reported() -> None:
    """A copy of a record that moved into its family (user_workers' result), one field renamed: reported."""
    wire = importlib.import_module(f"{registry.CASES_PACKAGE}.user_workers.wire")
    fields = {f.name: f.type for f in dataclasses.fields(wire.WorkersResult)}
    assert "nworkers" in fields
    drifted: type = record(frozen=True)(type("DriftedWorkers", (), {
        "__annotations__": {("n_workers" if k == "nworkers" else k): v for k, v in fields.items()},
        "__module__": wire.__name__}))
    problems = wire_drift(drifted, native.WIRE[wire.WorkersResult])
    assert any("DriftedWorkers.n_workers has no field in struct kc_wk_res" in p for p in problems), problems
    assert any("kc_wk_res.nworkers has no twin" in p for p in problems), problems
    assert wire_drift(wire.WorkersResult) == []


def test_uapi_constants_equal_the_headers() -> None:
    """A value conformance.host.uapi names that a helper header also defines as ``KC_<name>`` is the same number."""
    consts = {name: value for h in (TOP / "native_helpers").glob("kc_*.h")
              for name, value in _build().defines(h.read_text()).items()}
    shared = {n: v for n, v in vars(uapi).items() if n.isupper() and f"KC_{n}" in consts}
    assert {"CLONE_NEWNS", "PTRACE_SEIZE", "RESOLVE_CACHED"} <= shared.keys(), sorted(shared)
    assert {n: v for n, v in shared.items() if consts[f"KC_{n}"] != v} == {}
