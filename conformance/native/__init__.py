"""The one face over the compiled helpers (conformance._native): nothing else imports cffi.

Structs are declared once, in the ``native_helpers/kc_*.h`` header.  The
Python side is one typed dataclass per struct with the same field names;
``call()`` marshals generically in both directions, driven by the dataclass
fields and the cffi types of the function's parameters:

* int, bool and int enums go into integer fields (masked to unsigned types);
  str and bytes into char arrays (bounded); tuples into arrays; a nested
  dataclass into a nested struct; a property named like a C field is copied
  too (e.g. a count derived from a tuple).  Anything else (say an unresolved
  reference) is a TypeError.
* back out, each dataclass field is built from its type hint: int, bool,
  enums, str (char arrays), bytes (the whole buffer), tuples (arrays), nested
  dataclasses; ``int | None`` is None where C holds -1 ("absent");
  ``Annotated[tuple[X, ...], CountedBy("n")]`` keeps the first n entries of an array.

C fields without a dataclass field are left zero on the way in and ignored on
the way out (padding, the helper's internal state).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import enum
import errno as _errno
import os
import signal
import socket
import threading
import time
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar, get_type_hints

import conformance
from conformance._kc_harness_h import HarnessError as HarnessError
from conformance._native import ffi, lib
from conformance.host.procfs import Task
from conformance.host.records import record

R = TypeVar("R")


def const(name: str) -> int:
    """An integer #define of a helper header (KC_*)."""
    value: int = getattr(lib, name)
    return value


# --------------------------------------------------------------------------- wire records (record <-> struct)


@record(frozen=True)
class Wire:
    """The C struct a record is marshalled to or from, and the C fields it deliberately has no twin for."""

    struct: str  # "kc_clone_res" for struct kc_clone_res
    internal: frozenset[str]  # padding and the helper's own state: reviewed, never read nor written


WIRE: dict[type, Wire] = {}  # every record that crosses into C, by class (filled by @wire at import)
W = TypeVar("W", bound=type)


def wire(struct: str, *, internal: tuple[str, ...] = ()) -> Callable[[W], W]:
    """Class decorator: this record is the Python twin of ``struct <struct>``.

    The marshalling below refuses a record not declared so, or declared for another struct, and
    ``tests/test_wire.py`` checks every declared pair both ways (``wire_drift``): a C field without a
    Python field (or property) is an error unless ``internal`` names it."""
    def declare(cls: W) -> W:
        WIRE[cls] = Wire(struct, frozenset(internal))
        return cls
    return declare


def _declared(cls: type, ctype: Any) -> None:
    found = WIRE.get(cls)
    if found is None:
        raise TypeError(f"{cls.__name__} crosses into C ({ctype.cname}) but is not declared with @wire")
    if ctype.cname != f"struct {found.struct}":
        raise TypeError(f"{cls.__name__} is declared @wire({found.struct!r}) but met {ctype.cname}")


def wire_drift(cls: type, declared: Wire | None = None) -> list[str]:
    """What differs between a @wire record and its C struct (empty: they agree)."""
    spec = declared or WIRE[cls]
    name = cls.__name__
    try:
        ctype = ffi.typeof(f"struct {spec.struct}")
    except ffi.error:
        return [f"{name}: struct {spec.struct} is not declared in any kc_*.h header"]
    cfields = dict(ctype.fields)
    fields = {f.name for f in dataclasses.fields(cls)}
    props = {n for klass in cls.__mro__ for n, v in vars(klass).items() if isinstance(v, property)}
    problems = [f"{name}.{f} has no field in struct {spec.struct}" for f in sorted(fields - cfields.keys())]
    problems += [f"struct {spec.struct}.{f} has no twin in {name} (add one, or list it as internal)"
                 for f in cfields if f not in fields | props | spec.internal]
    problems += [f"{name}: internal {f!r} is not a field of struct {spec.struct}"
                 for f in sorted(spec.internal - cfields.keys())]
    problems += [f"{name}: internal {f!r} also has a Python twin" for f in sorted(spec.internal & fields)]
    hints = get_type_hints(cls, include_extras=True)
    for f in sorted(fields & cfields.keys()):
        sub = cfields[f].type
        while sub.kind == "array":
            sub = sub.item
        hint = hints[f]
        for inner in (hint, *typing.get_args(hint)):
            while typing.get_args(inner) and typing.get_origin(inner) is not None:
                inner = typing.get_args(inner)[0]
            if isinstance(inner, type) and dataclasses.is_dataclass(inner):
                twin = WIRE.get(inner)
                if twin is None:
                    problems.append(f"{name}.{f}: {inner.__name__} is not declared with @wire")
                elif sub.kind != "struct" or sub.cname != f"struct {twin.struct}":
                    problems.append(f"{name}.{f}: {inner.__name__} is struct {twin.struct}, C has {sub.cname}")
                break
    return problems


# /proc's record of a task is also what the helpers report: struct kc_thread_info (kc_uring.h), nested in the
# results of the io_uring open scenario and of the worker scenarios; declared once, here.
wire("kc_thread_info")(Task)


# --------------------------------------------------------------------------- generic marshalling


def _as_int(value: object, where: str) -> int:
    if isinstance(value, bool | int):  # IntEnum and IntFlag are ints
        return int(value)
    raise TypeError(f"{where}: {value!r} is not an integer (an unresolved reference?)")


def _store_bytes(target: Any, ctype: Any, raw: bytes, where: str) -> None:
    if len(raw) >= ctype.length:
        raise ValueError(f"{where} longer than {ctype.length - 1} bytes: {raw!r}")
    ffi.memmove(target, raw + b"\0", len(raw) + 1)


Store = Callable[[Any, object], None]  # writes one value into its place in a cffi struct or array
_FILLERS: dict[tuple[type, Any], Callable[[Any, object], None]] = {}


def _storer(ctype: Any, key: str | int, where: str) -> Store:
    """How to write a value into target.key (a struct field) or target[key] (an array entry) of C type
    ctype: worked out once per (dataclass, struct) and kept, so a call only copies values."""
    if ctype.kind == "primitive":
        mask = (1 << (8 * int(ffi.sizeof(ctype)))) - 1 if ctype.cname.startswith(("uint", "unsigned")) else -1

        if isinstance(key, int):
            def put_item(target: Any, value: object) -> None:
                target[key] = _as_int(value, where) & mask
            return put_item

        def put_field(target: Any, value: object) -> None:
            setattr(target, key, _as_int(value, where) & mask)
        return put_field

    # an array's entries: planned with the array (a char array takes a string instead)
    items = [_storer(ctype.item, i, f"{where}[{i}]") for i in range(ctype.length)] \
        if ctype.kind == "array" and ctype.item.cname != "char" else []

    def put_nested(target: Any, value: object) -> None:
        sub = target[key] if isinstance(key, int) else getattr(target, key)
        if ctype.kind == "array" and ctype.item.cname == "char" and isinstance(value, str | bytes):
            _store_bytes(sub, ctype, value.encode() if isinstance(value, str) else value, where)
        elif ctype.kind == "array" and isinstance(value, tuple):
            if len(value) > ctype.length:
                raise ValueError(f"{where}: at most {ctype.length} entries, got {len(value)}")
            for put, item in zip(items, value, strict=False):  # a shorter tuple leaves the rest zero
                put(sub, item)
        elif ctype.kind == "struct" and dataclasses.is_dataclass(value) and not isinstance(value, type):
            fill(sub, value)
        else:
            raise TypeError(f"{where}: cannot store {type(value).__name__} in {ctype.cname}")
    return put_nested


def new_struct(name: str) -> Any:
    """A zeroed ``struct <name>`` (for self-tests and handles)."""
    return ffi.new(f"struct {name} *")


def _filler(cls: type, ctype: Any) -> Callable[[Any, object], None]:
    _declared(cls, ctype)
    cfields = dict(ctype.fields)
    names = [f.name for f in dataclasses.fields(cls)]
    names += [n for n, v in vars(cls).items() if isinstance(v, property) and n in cfields]
    for name in names:
        if name not in cfields:
            raise TypeError(f"{cls.__name__}.{name} has no field in {ctype.cname}")
    plan = [(name, _storer(cfields[name].type, name, f"{cls.__name__}.{name}")) for name in names]

    def fill_one(c: Any, value: object) -> None:
        for name, put in plan:
            put(c, getattr(value, name))
    return fill_one


def fill(c: Any, value: object) -> None:
    """Copy a dataclass into the cffi struct c (a pointer or a struct), field by field."""
    ctype = ffi.typeof(c)
    if ctype.kind == "pointer":
        c, ctype = c[0], ctype.item
    key = (type(value), ctype)
    fill_one = _FILLERS.get(key)
    if fill_one is None:
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            raise TypeError(f"{type(value).__name__} is not a dataclass instance")
        fill_one = _FILLERS[key] = _filler(type(value), ctype)
    fill_one(c, value)


Loader = Callable[[Any], Any]
_READERS: dict[type, Callable[[Any], Any]] = {}


def _none_if_absent(v: Any) -> int | None:
    n = int(v)
    return None if n == -1 else n


def _loader(hint: Any) -> Loader:
    """How to turn a cffi value into a value of the type hint (built once per type)."""
    if hint is int:
        return int
    if hint is bool:
        return bool
    if hint is str:
        return lambda v: ffi.string(v).decode(errors="replace")
    if hint is bytes:
        return lambda v: bytes(ffi.buffer(v))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return lambda v: hint(int(v))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _reader(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _loader(args[0])
        if item is int:
            return lambda v: tuple(int(x) for x in v)
        return lambda v: tuple(item(x) for x in v)
    if origin in (types.UnionType, typing.Union) and set(args) == {int, type(None)}:
        return _none_if_absent
    raise TypeError(f"cannot read a {hint!r} from C")


@record(frozen=True)
class CountedBy:
    """Annotated[tuple[X, ...], CountedBy("n")]: only the first n entries of the C array are filled."""

    field: str


def _field_loader(hint: Any) -> Callable[[Any, Any], Any]:
    counted = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, CountedBy)]
    if not counted:
        load = _loader(hint)
        return lambda c, v: load(v)
    count = counted[0].field
    item = _loader(typing.get_args(typing.get_args(hint)[0])[0])
    return lambda c, v: tuple(item(v[i]) for i in range(max(0, min(int(getattr(c, count)), len(v)))))


def _reader(cls: type) -> Callable[[Any], Any]:
    if cls not in _READERS:
        hints = get_type_hints(cls, include_extras=True)
        fields = [(f.name, _field_loader(hints[f.name])) for f in dataclasses.fields(cls) if f.init]

        def build(c: Any) -> Any:
            return cls(**{name: load(c, getattr(c, name)) for name, load in fields})

        _READERS[cls] = build
    return _READERS[cls]


def read(cls: type[R], c: Any) -> R:
    """Build the dataclass cls from the cffi struct c (a pointer or a struct)."""
    if ffi.typeof(c).kind == "pointer":
        c = c[0]
    _declared(cls, ffi.typeof(c))
    value: R = _reader(cls)(c)
    return value


def _arg(ctype: Any, value: object) -> Any:
    if ctype.kind == "pointer" and ctype.item.kind == "struct":
        c = ffi.new(ctype)
        fill(c, value)
        return c
    if ctype.kind == "pointer" and ctype.item.cname == "char" and isinstance(value, str):
        return value.encode()
    return _as_int(value, ctype.cname)


_FUNCTIONS: dict[str, tuple[Any, tuple[Any, ...]]] = {}


def _function(func: str) -> tuple[Any, tuple[Any, ...]]:
    """A helper and its parameters' cffi types (looked up once)."""
    found = _FUNCTIONS.get(func)
    if found is None:
        fn = getattr(lib, func)
        found = _FUNCTIONS[func] = (fn, tuple(ffi.typeof(fn).args))
    return found


def call(func: str, *args: object) -> int:
    """Call a helper whose parameters are structs (given as dataclasses), integers or strings."""
    fn, ctypes = _function(func)
    cargs = [_arg(t, a) for t, a in zip(ctypes, args, strict=True)]
    return int(fn(*cargs))


def call_out(func: str, out: type[R], *args: object, fds: tuple[int, ...] = ()) -> tuple[int, R]:
    """Like call(), with a last parameter the helper fills: (its return value, that struct as ``out``).

    A function the process server serves (a scenario that forks) runs there, with ``fds``, the fds of
    this process its request refers to; the others, and every call when no server can run, run here."""
    fn, ctypes = _function(func)
    cargs = [_arg(t, a) for t, a in zip(ctypes[:-1], args, strict=True)]
    res = ffi.new(ctypes[-1])
    server = _server_for(func, ctypes)
    rc = server.call(func, cargs[0], res, fds) if server is not None else int(fn(*cargs, res))
    return rc, read(out, res)


# --------------------------------------------------------------------------- the process server (kc_serve.h)

SERVER_PATH = os.path.join(os.path.dirname(os.path.abspath(conformance.__file__)), "kconform-server")  # package root
SERVER_TIMEOUT_MS = 300_000  # far beyond any scenario's own bound: a server that long silent is broken
IN_PROCESS_ENV = "KCONFORM_IN_PROCESS"  # "1": run every scenario in this process (no server)
ANSWER_SLICE_MS = 100  # the runner waits for an answer in slices this long, handling signals between them


class QuietLock(typing.Protocol):
    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool: ...

    def release(self) -> None: ...


class Cancelled(Exception):
    """A call to a server whose ``cancel`` event was set (the run stops): its scenario was killed."""


class Server:
    """The kconform-server of this process: spawned (not forked) once, so scenarios fork a small process."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        mine, theirs = _socketpair()
        try:
            high = os.dup(theirs) if theirs == 3 else theirs  # dup2 onto 3 must clear close-on-exec
            self.pid = os.posix_spawn(
                SERVER_PATH, [SERVER_PATH, str(self.owner)], dict(os.environ),
                file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                              (os.POSIX_SPAWN_DUP2, high, 3)],
                setpgroup=0,  # a terminal's ^C is the runner's to handle, not the server's
            )
            if high != theirs:
                os.close(high)
        except BaseException:
            os.close(mine)
            raise
        finally:
            os.close(theirs)
        self.sock = mine
        self.stopped = False
        self.cancel: threading.Event | None = None  # set: a call in progress stops within one slice
        # held by the calling thread outside its calls (a background wait: see waits.py), let go inside
        self.quiet: QuietLock | None = None
        self.quiet_lost = False
        # a background wait's server that its row found clean (no fd or process of a scenario left in it):
        # kept for the next row instead of stopped (a spawn is ~0.2 s of a TCG guest's vCPU)
        self.reusable = False
        self.ready = False

    def call(self, func: str, req: Any, res: Any, fds: tuple[int, ...]) -> int:
        """Run func in the server (with ``quiet`` let go while the scenario runs, when set)."""
        if self.quiet is None:
            return self._call(func, req, res, fds)
        self.quiet.release()
        try:
            return self._call(func, req, res, fds)
        finally:
            while not self.quiet.acquire(timeout=ANSWER_SLICE_MS / 1000):
                if self.cancel is not None and self.cancel.is_set():
                    self.quiet_lost = True  # the run stops: its owner must not wait for the foreground
                    break

    def _call(self, func: str, req: Any, res: Any, fds: tuple[int, ...]) -> int:
        """Run func in the server.  The answer is awaited in slices of ANSWER_SLICE_MS with Python
        between them, so a signal's handler runs within one slice: an interruption (or any exception)
        raised meanwhile stops the server and the scenario's processes with it."""
        rc = ffi.new("int32_t *")
        carried = [fd for fd in fds if fd >= 3]
        arr = ffi.new("int32_t[]", carried) if carried else ffi.NULL
        err = int(lib.kc_serve_send(self.sock, func.encode(), req, ffi.sizeof(ffi.typeof(req).item),
                                    ffi.sizeof(ffi.typeof(res).item), arr, len(carried)))
        deadline = time.monotonic() + SERVER_TIMEOUT_MS / 1000
        size = ffi.sizeof(ffi.typeof(res).item)
        try:
            while err == 0:
                err = int(lib.kc_serve_answer(self.sock, res, size, ANSWER_SLICE_MS, rc))
                if err != -_errno.EINPROGRESS:
                    break
                err = -_errno.ETIMEDOUT if time.monotonic() > deadline else 0
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled(f"{func} stopped: the run is stopping")
        except BaseException:
            self._drop(kill=True)
            raise
        if err < 0:
            self._drop()
            raise OSError(-err, f"the process server did not answer {func}: {errno_name(-err)}")
        return int(rc[0])

    def wait_ready(self, timeout_s: float = 2.0) -> None:
        """Until the server has moved its socket off fd 3 (its fds are then the ones it keeps), bounded;
        once."""
        if self.ready:
            return
        deadline = time.monotonic() + timeout_s
        while os.path.lexists(f"/proc/{self.pid}/fd/3") and time.monotonic() < deadline:
            time.sleep(0.001)
        self.ready = True

    def _drop(self, kill: bool = False) -> None:
        """Stop this server after a failed call: the process's own one is started again by the next
        scenario; another (a background wait's) is its owner's to replace."""
        if self is _SERVER:
            stop_server(kill=kill)
        elif not self.stopped:
            self.stop(kill=kill)

    def stop(self, timeout_s: float = 5.0, kill: bool = False) -> None:
        """Close the socket (the server leaves), kill it if it has not within the bound, reap it.
        ``kill``: at once, with its process group (a scenario cut short: its processes go too; the
        rest die with their parents, PR_SET_PDEATHSIG)."""
        if self.stopped:
            return
        self.stopped = True
        os.close(self.sock)
        if kill:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout_s
        killed = kill
        while True:
            try:
                pid, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid:
                return
            if time.monotonic() > deadline:
                if killed:
                    return
                killed, deadline = True, time.monotonic() + timeout_s
                os.kill(self.pid, signal.SIGKILL)
            time.sleep(0.001)


def fd_open(value: int) -> bool:
    """value names an open fd of this process (which the kernel would see, were the call made here)."""
    if not 0 <= value < 1 << 31:
        return False
    try:
        os.fstat(value)
    except OSError:
        return False
    return True


def _socketpair() -> tuple[int, int]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return a.detach(), b.detach()


_SERVER: Server | None = None
_SERVER_BROKEN: str | None = None  # why no server runs in this process (then scenarios run here)
_SERVED: dict[str, bool] = {}


def _server_for(func: str, ctypes: Any) -> Server | None:
    global _SERVER, _SERVER_BROKEN
    if func not in _SERVED:
        _SERVED[func] = len(ctypes) == 2 and all(t.kind == "pointer" and t.item.kind == "struct" for t in ctypes) \
            and bool(lib.kc_serve_known(func.encode(), ffi.sizeof(ctypes[0].item), ffi.sizeof(ctypes[1].item)))
    if not _SERVED[func]:
        return None
    own: Server | None = getattr(_THREAD, "server", None)
    if own is not None:  # a thread with a server of its own (a background wait); never runs one here
        return own
    if _SERVER is not None and _SERVER.owner == os.getpid():
        return _SERVER
    if _SERVER is not None:  # a forked copy of this module: the server is the parent's
        _SERVER = None
    if os.environ.get(IN_PROCESS_ENV) == "1":
        _SERVER_BROKEN = f"{IN_PROCESS_ENV}=1"
    if _SERVER_BROKEN is not None:
        return None
    try:
        _SERVER = Server()
    except OSError as e:
        _SERVER_BROKEN = f"{SERVER_PATH}: {e.strerror or e}"
        return None
    return _SERVER


_THREAD = threading.local()  # .server: the Server this thread's scenarios run in, instead of the process's


def background_server() -> Server | None:
    """A process server for a row about to wait in the background (None: scenarios run in this process):
    one an earlier row left clean, else a new one.  To be called from a thread that lives as long as the
    run (the session's): a server dies with the thread that spawned it (PR_SET_PDEATHSIG follows the
    parent thread), so one spawned by the row's own thread could not outlive the row."""
    if _SERVER_BROKEN is not None or os.environ.get(IN_PROCESS_ENV) == "1" or not os.access(SERVER_PATH, os.X_OK):
        return None
    server = _idle_server()
    if server is None:
        try:
            server = Server()
        except OSError:
            return None
        _BACKGROUND[server.pid] = server
    return server


@contextlib.contextmanager
def own_server(cancel: threading.Event, quiet: QuietLock, server: Server) -> typing.Iterator[Server]:
    """Run this thread's scenarios in ``server`` (``background_server``: a second connection, so a long
    scenario waits beside the process's one); ``cancel`` set stops a call within one slice.  On leaving it
    is kept for the next row when the row set ``reusable`` (nothing of its scenario left in it), else
    retired."""
    server.wait_ready()
    server.cancel, server.quiet, server.quiet_lost, server.reusable = cancel, quiet, False, False
    _THREAD.server = server
    try:
        yield server
    finally:
        _THREAD.server = None
        if server.reusable and not server.stopped and not server.quiet_lost and not cancel.is_set():
            server.cancel = server.quiet = None
            with _IDLE_LOCK:
                _IDLE.append(server)
        else:
            retire(server, kill=cancel.is_set())


_IDLE: list[Server] = []  # background servers between two rows (still in _BACKGROUND: no case's)
_IDLE_LOCK = threading.Lock()


def _idle_server() -> Server | None:
    with _IDLE_LOCK:
        while _IDLE:
            server = _IDLE.pop()
            if server.owner == os.getpid() and not server.stopped:
                return server
    return None


def retire(server: Server, kill: bool = False) -> None:
    """Stop a background server for good (``kill``: at once, with its scenario's processes)."""
    server.stop(kill=kill)
    _BACKGROUND.pop(server.pid, None)


def stop_idle_servers() -> None:
    """Stop the background servers kept between rows (the rows are done, or a case that takes the global
    lock exclusively comes)."""
    with _IDLE_LOCK:
        idle = [s for s in _IDLE if s.owner == os.getpid()]
        _IDLE.clear()
    for server in idle:
        retire(server)


_BACKGROUND: dict[int, Server] = {}  # pid -> the servers of rows waiting in the background


def background_server_pids() -> frozenset[int]:
    """The servers of rows waiting in the background, and (seen from such a row's thread) the process's
    own one: none is a case's child."""
    pids = {pid for pid, s in list(_BACKGROUND.items()) if s.owner == os.getpid()}
    if getattr(_THREAD, "server", None) is not None and _SERVER is not None and _SERVER.owner == os.getpid():
        pids.add(_SERVER.pid)
    return frozenset(pids)


def background_server_fds() -> frozenset[int]:
    """The sockets of the background rows' servers, and (seen from such a row's thread) the process's own
    server's: a foreground case may start that server while a row waits, and it is no leak of the row's."""
    fds = {s.sock for s in list(_BACKGROUND.values()) if s.owner == os.getpid() and not s.stopped}
    main = _SERVER
    if getattr(_THREAD, "server", None) is not None and main is not None and main.owner == os.getpid():
        fds.add(main.sock)
    return frozenset(fds)


def server_process() -> tuple[int, int] | None:
    """(pid, socket fd) of this thread's server (this process's, or a background wait's own), when one
    runs: its children are the runner's."""
    own: Server | None = getattr(_THREAD, "server", None)
    if own is not None and not own.stopped:
        return own.pid, own.sock
    if _SERVER is None or _SERVER.owner != os.getpid():
        return None
    return _SERVER.pid, _SERVER.sock


def server_mode() -> str:
    """How scenarios run: "server" or "in-process (<why>)" (run metadata).  Also right in an xdist
    controller, which runs no scenario itself, for the reasons a worker would find too."""
    if _SERVER_BROKEN is not None:
        return f"in-process ({_SERVER_BROKEN})"
    if os.environ.get(IN_PROCESS_ENV) == "1":
        return f"in-process ({IN_PROCESS_ENV}=1)"
    if not os.access(SERVER_PATH, os.X_OK):
        return f"in-process ({SERVER_PATH}: not executable)"
    return "server"


@atexit.register
def stop_server(kill: bool = False) -> None:
    """Stop this process's server (it is started again by the next scenario); ``kill``: at once."""
    global _SERVER
    server, _SERVER = _SERVER, None
    if server is not None and server.owner == os.getpid():
        server.stop(kill=kill)


def call_array(func: str, item: type[R], count: int, *args: object) -> tuple[int, tuple[R, ...]]:
    """func(<args>, struct item *out, int32_t max): (its return value, the count entries as ``item``)."""
    fn, ctypes = _function(func)
    cargs = [_arg(t, a) for t, a in zip(ctypes[:-2], args, strict=True)]
    out = ffi.new(f"{ctypes[-2].item.cname}[]", count)
    rc = int(fn(*cargs, out, count))
    return rc, tuple(read(item, out[i]) for i in range(max(0, min(rc, count))))


class Handle:
    """A struct a helper keeps state in across calls (e.g. a running owner process)."""

    def __init__(self, struct: str) -> None:
        self._c = ffi.new(f"struct {struct} *")

    def call(self, func: str, *args: object) -> int:
        """func(...) with the handle where the helper takes this struct, args in the other parameters."""
        fn = getattr(lib, func)
        mine = ffi.typeof(self._c)
        rest = iter(args)
        return int(fn(*(self._c if t == mine else _arg(t, next(rest)) for t in ffi.typeof(fn).args)))

    def read(self, cls: type[R]) -> R:
        return read(cls, self._c)


def string_list_call(func: str, argv: list[str], out_len: int, *args: int) -> tuple[int, str]:
    """func(const char *const *argv, char *out, int32_t outlen, ...): (return, the text written to out)."""
    keep = [ffi.new("char[]", a.encode()) for a in argv]
    arr = ffi.new("char *[]", [*keep, ffi.NULL])
    out = ffi.new("char[]", out_len)
    rc = int(getattr(lib, func)(arr, out, out_len, *args))
    return rc, ffi.string(out).decode(errors="replace")


# --------------------------------------------------------------------------- errno names

# errnos newer than the C library this Python was built against (include/uapi/asm-generic/errno.h)
_NEW_ERRNOS = {134: "EFTYPE"}  # 7.2: wrong file type for the intended operation (OPENAT2_REGULAR)


def errno_name(err: int) -> str:
    return _errno.errorcode.get(err) or _NEW_ERRNOS.get(err, f"errno {err}")


# --------------------------------------------------------------------------- the harness contract (kc_harness.h)


class HarnessProblem(OSError):
    """The harness, not the kernel, broke: the case's verdict is error (``judge_case``).

    An OSError too, so a probe whose harness cannot start (no process or fd left) is "unknown"."""


def harness_problem(what: str, detail: str) -> HarnessProblem:
    """The one message format: "the <what> harness: <detail>"."""
    return HarnessProblem(f"the {what} harness: {detail}")


@wire("kc_harness")
@record(frozen=True)
class HarnessStatus:
    """struct kc_harness, first in every result: what went wrong outside the behaviour, how the harness ended."""

    error: HarnessError
    err_no: int
    pid: int
    status: int

    @property
    def ok(self) -> bool:
        return self.error is HarnessError.NONE

    def describe(self) -> str:
        """ "harness error TIMEOUT (ENOENT)"; "" when nothing went wrong."""
        if self.ok:
            return ""
        return f"harness error {self.error.name}" + (f" ({errno_name(self.err_no)})" if self.err_no else "")


class Harnessed:
    """Base of every result record: ``harness`` (a HarnessStatus) and its two most read parts."""

    harness: HarnessStatus

    @property
    def harness_error(self) -> HarnessError:
        return self.harness.error

    @property
    def harness_errno(self) -> int:
        return self.harness.err_no

    @property
    def child_pid(self) -> int:
        return self.harness.pid

    @property
    def wait_status(self) -> int:
        return self.harness.status


def run_harness(func: str, out: type[R], *args: object, what: str, fds: tuple[int, ...] = ()) -> R:
    """The one call of a family's scenario entry (``int kc_..(..., struct res *)``, which runs
    kc_harness_run): its result, or HarnessProblem when the harness could not be started."""
    rc, res = call_out(func, out, *args, fds=fds)
    if rc < 0:
        raise harness_problem(what, f"cannot start it ({errno_name(-rc)})")
    return res


def describe_status(status: int) -> str:
    if status & 0x7F == 0:
        return f"exited {(status >> 8) & 0xFF}"
    if (status & 0xFF) == 0x7F:
        return f"stopped by signal {(status >> 8) & 0xFF}"
    return f"killed by signal {status & 0x7F}"


def pidfd_open(pid: int, flags: int = 0) -> int:
    """pidfd_open(2): fd or -errno."""
    return int(lib.kc_pidfd_open(pid, flags))


def umount_detach(path: str) -> int:
    """umount2(path, MNT_DETACH): 0 or -errno."""
    return int(lib.kc_umount_detach(path.encode()))
