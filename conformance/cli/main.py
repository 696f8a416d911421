"""The ``kconform`` command line.

    kconform run [--junit PATH] [--ktap PATH] [--json PATH] [--expectations PATH]
                 [--timeout S] [-k EXPR] [-n N] [-x] [-v] [-- pytest args...]
    kconform behaviours
    kconform report FILES|DIR [--html PATH] [--markdown PATH]
    kconform kernels list | fetch SPEC...
    kconform vm --kernel SPEC [--kernel SPEC...] [--out DIR] [-j N] [--timeout S] [-- pytest args]

Bad input gets one line on stderr and exit status 2, never a traceback: every
option is checked before anything runs, and pytest's own usage errors and
"nothing selected" are mapped into the same contract.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from conformance.cli import ownproc, pid1
from conformance.host.usage import (
    EXIT_HARNESS,
    EXIT_USAGE,
    UsageError,
    distinct,
    input_file,
    input_file_or_dir,
    one_line,
    output_path,
    positive_seconds,
)
from conformance.isolation import interrupt
from conformance.report import writers
from conformance.suite.shard import parse_shard

EXIT_STATUS_HELP = """exit status:
  0        every case passed or was skipped (or old-model / overridden)
  1        at least one case failed or errored
  2        bad usage: one line on stderr, nothing run, no report written
  3        kconform itself failed (e.g. a report could not be written: one line on stderr); an output error
           (stdout on a full device, the working directory removed): the reports say the run is incomplete
  141      stdout or stderr was a closed pipe (128 + SIGPIPE): the reports say the run is incomplete
  128+N    interrupted by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP): the reports contain the error case
           kconform.harness/interrupted naming the signal and the case that was running"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def cases_dir() -> Path:
    from conformance.suite import registry

    return registry.cases_dir()


def known_families() -> list[str]:
    """The families the suite has, found the way the core finds them."""
    from conformance.suite import registry

    return sorted(registry.families())


# --------------------------------------------------------------------------- run


def add_run_options(p: argparse.ArgumentParser) -> None:
    writers.add_run_options(p)  # --junit, --ktap, --json, --kcidb PATH, --kcidb-origin NAME
    p.add_argument("--expectations", metavar="PATH", help="TOML file of known deviations")
    p.add_argument("--timeout", metavar="S", type=float,
                   help="per-case timeout in seconds (default 60); also bounds every wait on the global lock")
    p.add_argument("--label", metavar="TEXT", help="run label, part of the report suite name (e.g. vm:debian-6.12)")
    p.add_argument("--family", action="append", default=[], metavar="NAME",
                   help="only this family (see kconform behaviours); repeatable")
    p.add_argument("-k", metavar="EXPR", dest="keyword", help="only cases matching EXPR (pytest -k)")
    p.add_argument("-n", metavar="N", dest="workers", help="parallel workers (pytest-xdist -n: a number, auto)")
    p.add_argument("--shard", metavar="K/N", help="only the K-th of N disjoint parts of the cases: N runs "
                   "(at once or one after another, e.g. N CI jobs) with 1/N .. N/N run every case once")
    p.add_argument("-x", action="store_true", dest="exitfirst", help="stop at the first failure")
    p.add_argument("--allow-change", action="append", default=[], metavar="SYSCTL", dest="allow_change",
                   help="let the rows that change this machine-wide sysctl run on this machine (they always run "
                        "in a kconform VM guest): kernel.core_pattern; repeatable")
    p.add_argument("-v", action="count", default=0, dest="verbose", help="more output")
    p.add_argument("-q", action="store_true", dest="quiet", help="less output")


def pytest_args(ns: argparse.Namespace, extra: Sequence[str]) -> list[str]:
    root = cases_dir()
    families = [a for f in dict.fromkeys(ns.family) for a in ("--kc-family", f)]  # by behaviour id, wherever declared
    args = [str(root), *families, "--rootdir", str(root), "-p", "no:cacheprovider", "--import-mode=importlib"]
    if not any(a.startswith("--assert") for a in extra):
        # verdicts never come from an assert statement: rewriting the test modules' is only cost (re-parsed
        # and compiled on every run when bytecode may not be written, 0.1 s here)
        args.append("--assert=plain")
    args += [a for p in UNUSED_PLUGINS for a in ("-p", f"no:{p}")]
    args += writers.run_pytest_args(ns)
    if ns.expectations:
        args += ["--kc-expectations", ns.expectations]
    if ns.timeout is not None:
        args += ["--kc-timeout", repr(ns.timeout)]
    if ns.label:
        args += ["--kc-suite-name", ns.label]
    if ns.keyword:
        args += ["-k", ns.keyword]
    if ns.shard:
        args += ["--kc-shard", ns.shard]
    if ns.workers:
        args += ["-n", ns.workers]
    elif not any(a.startswith(XDIST_OPTIONS) for a in extra):
        # a serial run does not pay for loading it (a second or so under TCG)
        args += ["-p", "no:xdist", "-p", "no:xdist.looponfail"]
    if not any(a.startswith(DEBUGGER_OPTIONS) for a in extra):
        args += ["-p", "no:debugging"]
    if ns.exitfirst:
        args.append("-x")
    args += [a for name in dict.fromkeys(getattr(ns, "allow_change", [])) for a in ("--kc-allow-change", name)]
    args += ["-v"] * ns.verbose
    if ns.quiet:
        args.append("-q")
    return args + list(extra)


# pytest's own plugins no case uses: log capture, unittest and doctest items, tmpdir, pastebin, and the
# hooks for exceptions raised in __del__ or threads (a case has neither; Python still prints them).  Each
# adds work to every phase of every case, to collection or to the exit, which under TCG is seconds.
UNUSED_PLUGINS = ("logging", "unittest", "doctest", "legacypath", "pastebin", "unraisableexception",
                  "threadexception")
# The debugger stays loaded only for a run that asks for it.
DEBUGGER_OPTIONS = ("--pdb", "--pdbcls", "--trace")

# pytest-xdist's options among the pytest arguments after "--": then xdist stays loaded.
XDIST_OPTIONS = ("-n", "--numprocesses", "--dist", "--maxprocesses", "--max-worker-restart", "--tx", "-d",
                 "--looponfail", "-f", "--rsyncdir", "--px")


def check_keyword(expr: str) -> None:
    if not expr.strip():
        raise UsageError("-k needs a non-empty expression")
    try:
        from _pytest.mark.expression import Expression
    except ImportError:  # pytest moved it: pytest itself reports a bad expression (mapped in cmd_run)
        return
    try:
        Expression.compile(expr)
    except RecursionError:
        raise UsageError(f"-k expression nested too deeply ({expr.count('(')} parentheses; "
                         f"{expr[:40]!r}...)") from None
    except (SyntaxError, ValueError) as e:  # ParseError before pytest 8.4, SyntaxError since
        msg = getattr(e, "msg", None) or str(e)
        column = getattr(e, "offset", None) or getattr(e, "column", None)
        raise UsageError(f"-k {expr!r} is not a valid expression"
                         + (f" (column {column}: {one_line(msg)})" if column else f": {one_line(msg)}")) from None


def check_workers(value: str) -> None:
    if value in ("auto", "logical"):
        return
    if not re.fullmatch(r"[0-9]+", value) or int(value) < 1:
        raise UsageError(f"-n must be a number of workers of at least 1 or 'auto', not {value!r}")


def validate_run(ns: argparse.Namespace) -> None:
    """Every option, before anything runs; output paths are replaced by their real paths."""
    positive_seconds(ns.timeout, "--timeout")
    if getattr(ns, "allow_change", None):
        from conformance.isolation import globalstate

        problem = globalstate.unknown_change(ns.allow_change)  # the run's pytest gets the names
        if problem:
            raise UsageError(problem)
    if ns.workers is not None:
        check_workers(ns.workers)
    if ns.keyword is not None:
        check_keyword(ns.keyword)
    if ns.label is not None and (not ns.label.strip() or not ns.label.isprintable()):
        raise UsageError("--label must be non-empty printable text on one line")
    if ns.shard is not None:
        if not ns.shard.strip():
            raise UsageError("--shard needs K/N (e.g. 1/2), not an empty value")
        try:
            parse_shard(ns.shard)
        except ValueError as e:
            raise UsageError(str(e)) from None
    from conformance.host import paths

    tmpdir_problem = paths.check_tmpdir()
    if tmpdir_problem is not None:
        raise UsageError(tmpdir_problem)
    known = known_families()
    for family in ns.family:
        if family not in known:
            raise UsageError(f"unknown family {family!r} (known: {', '.join(known)})")
    try:
        writers.check_origin(ns.kcidb_origin)
    except ValueError as e:
        raise UsageError(str(e)) from None
    expectations = input_file(ns.expectations, "expectations file")
    outputs = [(f"--{name}", output_path(getattr(ns, name), f"--{name}"))
               for name in writers.RUN_WRITERS if getattr(ns, name, None) is not None]
    distinct([*outputs, ("--expectations", expectations)])
    for opt, real in outputs:
        if real is not None:
            setattr(ns, opt.removeprefix("--"), str(real))
    if expectations is not None:
        from conformance.suite.expectations import ExpectationError, Expectations

        try:
            Expectations.load(expectations)
        except ExpectationError as e:
            raise UsageError(str(e)) from None
        ns.expectations = str(expectations)


class _HeldStderr(io.TextIOBase):
    """sys.stderr while pytest starts: held back until the session runs, so that pytest's own usage
    errors (multi-line, with its usage text) can be turned into one kconform line."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.held: list[str] | None = []

    def write(self, text: str) -> int:
        if self.held is None:
            return int(self.real.write(text))
        self.held.append(text)
        return len(text)

    def release(self) -> None:
        if self.held is not None:
            self.real.write("".join(self.held))
            self.held = None

    def text(self) -> str:
        return "".join(self.held or [])

    def flush(self) -> None:
        self.real.flush()

    def fileno(self) -> int:
        return int(self.real.fileno())

    def isatty(self) -> bool:
        return bool(self.real.isatty())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(self.real.encoding)


class _Release:
    """Plugin: the run has started, stderr flows again."""

    def __init__(self, held: _HeldStderr) -> None:
        self.held = held

    def pytest_runtestloop(self, session: Any) -> None:
        self.held.release()


def _pytest_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        m = re.search(r"error: (.*)$", ln, re.IGNORECASE)
        if m:
            return m.group(1).strip()
    return lines[-1] if lines else "pytest rejected the arguments"


def write_provisional(ns: argparse.Namespace) -> None:
    """The "incomplete" reports, before pytest even starts (the plugin writes them again): a run killed
    from here on never leaves an older, green file at these paths."""
    from conformance.host import kernel, privilege
    from conformance.runner import outputs

    want = outputs.from_namespace(ns)
    if not want:
        return
    props = {**kernel.facts().as_properties(), **privilege.current().properties()}
    errors = outputs.write_all(want, _report(ns, outputs.provisional(props)))
    if errors:
        raise UsageError("; ".join(errors))


def _report(ns: argparse.Namespace, run: Any) -> Any:
    from conformance.runner import outputs

    origin = getattr(ns, "kcidb_origin", None)
    return outputs.RunReport(run, kcidb_origin=origin) if origin else outputs.RunReport(run)


def _remove_reports(ns: argparse.Namespace) -> None:
    for p in writers.requested(ns).values():
        with contextlib.suppress(OSError):
            os.unlink(p)


def _interrupted_early(ns: argparse.Namespace, signum: int) -> int:
    """Interrupted before the session could write its reports: they still say so."""
    from conformance.host import kernel, privilege
    from conformance.runner import outputs
    from conformance.suite.results import RunRecord

    name = interrupt.signal_name(signum)
    want = outputs.from_namespace(ns)
    if want:
        props = {**kernel.facts().as_properties(), **privilege.current().properties(), "run.complete": "no",
                 "run.status": f"interrupted by {name}"}
        run = RunRecord(props, [outputs.interrupted_case(f"run interrupted by {name} before any case ran")])
        errors = outputs.write_all(want, _report(ns, run))
        if errors:
            print(f"kconform: error: {'; '.join(errors)}", file=sys.stderr)
    print(f"kconform: interrupted by {name}", file=sys.stderr)
    return interrupt.exit_status(signum)


def _output_error_line(signum: int) -> None:
    """One line on stderr for a run stopped by an output error (stderr itself may be what failed)."""
    if signum == interrupt.OUTPUT_ERROR and sys.stderr is not None:  # None: started with stderr closed
        with contextlib.suppress(OSError, ValueError):
            print(f"kconform: error: run stopped by {interrupt.signal_name(signum)}; its reports say it is "
                  "incomplete", file=sys.stderr, flush=True)


def cmd_run(ns: argparse.Namespace, extra: Sequence[str]) -> int:
    from conformance.runner import stdio

    validate_run(ns)
    real_stdout, real_stderr = sys.stdout, sys.stderr
    # First of all: a closed descriptor gets /dev/null before any file of the run can take its number.
    out, err = stdio.Guarded(real_stdout, "stdout"), stdio.Guarded(real_stderr, "stderr")
    try:
        write_provisional(ns)
        import pytest

        held = _HeldStderr(err)
        sys.stderr, sys.stdout = held, out
        try:
            stdio.check_cwd()  # pytest cannot start in a removed directory
            rc = int(pytest.main(pytest_args(ns, extra), plugins=[_Release(held)]))
            out.flush()  # what pytest left buffered: a closed pipe shows here at the latest
        finally:
            sys.stderr, sys.stdout = real_stderr, real_stdout
    except interrupt.Interrupted as e:
        if interrupt.reported():  # the final flush failed after the final reports (raised there)
            _output_error_line(e.signum)
            return interrupt.exit_status(e.signum)
        return _interrupted_early(ns, e.signum)
    signum = interrupt.received()
    if signum is not None:
        held.release()
        if not interrupt.reported():
            return _interrupted_early(ns, signum)
        _output_error_line(signum)
        return interrupt.exit_status(signum)
    if rc == pytest.ExitCode.NO_TESTS_COLLECTED and ns.shard and parse_shard(ns.shard).n > 1:
        # A part may hold none of a narrow selection, while another part holds it: its reports say so
        # (no case); the parts' merge calls a run whose every part is empty what it is.
        held.release()
        print(f"kconform: part {ns.shard} holds no case of this selection", file=sys.stderr)
        return 0
    if rc in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        _remove_reports(ns)  # bad usage writes nothing, not even an empty "0 failures" report
    if rc == pytest.ExitCode.USAGE_ERROR:
        raise UsageError(_pytest_error(held.text()))
    held.release()
    if rc == pytest.ExitCode.NO_TESTS_COLLECTED:
        sel = [f"-k {ns.keyword!r}"] if ns.keyword else []
        sel += [f"--family {f}" for f in ns.family]
        raise UsageError(f"no case matched {' '.join(sel)}" if sel else "no case was collected")
    if rc == pytest.ExitCode.INTERRUPTED:
        return interrupt.exit_status(2)  # a KeyboardInterrupt that did not come through our handler
    if rc == pytest.ExitCode.INTERNAL_ERROR:
        return EXIT_HARNESS
    return rc


# --------------------------------------------------------------------------- behaviours


def cmd_behaviours(ns: argparse.Namespace, extra: Sequence[str]) -> int:
    from conformance.report.text import aligned
    from conformance.suite import probes
    from conformance.suite.behaviours import BEHAVIOURS

    if extra:
        raise UsageError("behaviours takes no arguments after --")
    rows = []
    for b in BEHAVIOURS:
        status = "-"
        if b.probe:
            pr = probes.probe(b.probe)
            status = pr.state.value
        rows.append((b.id, b.since, b.commit or "-", status, b.statement))
    for line in aligned([("behaviour", "since", "commit", "status", "statement"), *rows]):
        print(line)
    return 0


# --------------------------------------------------------------------------- checks for the other subcommands


def validate_report(ns: argparse.Namespace) -> None:
    for arg in [*ns.inputs, *([ns.baseline] if getattr(ns, "baseline", None) is not None else [])]:
        if not arg.strip():
            raise UsageError("report input path is empty")
        input_file_or_dir(arg, "report input")
    html = output_path(ns.html, "HTML report")
    markdown = output_path(ns.markdown, "markdown report")
    distinct([("--html", html), ("--markdown", markdown)])
    inputs = {Path(os.path.realpath(a)) for a in ns.inputs}
    for opt, p in (("--html", html), ("--markdown", markdown)):
        inside = any(d in p.parents for d in inputs if d.is_dir()) if p is not None else False
        if p is not None and (p in inputs or (inside and p.suffix in (".json", ".xml"))):
            raise UsageError(f"{opt} {p} is one of the report's inputs")


DEBIAN_SPEC = re.compile(r"debian:[\w.+~-]+")  # what the Debian resolver accepts before asking apt
DEBIAN_HELP = "a Debian spec is debian:<version or suite>, e.g. debian:6.12, debian:7.3.4+deb13, debian:stable"


def validate_cache(write: bool = True) -> None:
    """The kernel cache (``$KCONFORM_CACHE`` or the default) is a writable directory, or can be created."""
    from conformance.vm import kernels

    where = kernels.cache_dir()
    what = "KCONFORM_CACHE" if os.environ.get("KCONFORM_CACHE") else "the kernel cache"
    if not str(where).strip():
        raise UsageError(f"{what} is an empty path")
    if where.exists() or where.is_symlink():
        if not where.is_dir():
            raise UsageError(f"{what} {where} is not a directory")
        if not os.access(where, os.R_OK | os.X_OK | (os.W_OK if write else 0)):
            raise UsageError(f"{what} {where} is not {'writable' if write else 'readable'}")
        if write:  # access() does not see a read-only directory for root (sysfs, a read-only bind mount)
            import tempfile

            try:
                fd, probe = tempfile.mkstemp(prefix=".kconform-probe-", dir=where)
            except OSError as e:
                raise UsageError(f"{what} {where} is not writable: {e.strerror or e}") from None
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(probe)
        return
    if not write:
        return
    parent = next((p for p in where.absolute().parents if p.exists()), Path("/"))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {where} cannot be created: {parent} is not a writable directory")


# What apt accepts as an archive: a scheme and, for the network ones, a host.
MIRROR_URL = re.compile(r"(?:(?:https?|ftp|(?:tor|mirror)\+https?)://[^\s/:]+(?::[0-9]{1,5})?(?:/\S*)?"
                        r"|(?:file|copy|mirror\+file):/\S*)")


def check_mirror(url: str, what: str) -> None:
    if not MIRROR_URL.fullmatch(url):
        raise UsageError(f"{what} must be an archive URL such as http://deb.debian.org/debian or file:/srv/mirror, "
                         f"not {url!r}")


def validate_vm(ns: argparse.Namespace) -> None:
    """vm: everything that can be checked without side effects, before results/ is created."""
    if ns.jobs < 1:
        raise UsageError("-j must be at least 1")
    positive_seconds(ns.timeout, "--timeout")
    try:
        writers.check_origin(ns.kcidb_origin)
    except ValueError as e:
        raise UsageError(str(e)) from None
    validate_cache()
    for env in ("KCONFORM_DEBIAN_MIRROR", "KCONFORM_DEBIAN_SECURITY_MIRROR"):
        if any(k.startswith("debian:") for k in ns.kernel) and os.environ.get(env) is not None:
            check_mirror(os.environ[env], f"${env}")
    if ns.cpus < 0:
        raise UsageError("--cpus must be at least 1 (or 0: host CPUs / -j)")
    if ns.shards < 0:
        raise UsageError("--shards must be at least 1 (or 0: the guest's vCPUs, at most 4)")
    if not re.fullmatch(r"[1-9][0-9]*[KMGT]?", ns.memory or ""):
        raise UsageError(f"--memory must be a size such as 1G or 2048M, not {ns.memory!r}")
    if not ns.out.strip():
        raise UsageError("--out path is empty")
    out = Path(ns.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is not a directory")
    parent = next((p for p in (out, *out.absolute().parents) if p.exists()), Path("/"))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {parent} is not writable")
    from conformance.vm import kernels

    for spec in ns.kernel:
        if not spec.strip():
            raise UsageError("--kernel spec is empty")
        if spec.startswith("debian:"):
            if not DEBIAN_SPEC.fullmatch(spec):
                raise UsageError(f"--kernel {spec!r}: {DEBIAN_HELP}")
            continue
        try:
            kernels.resolve(spec, fetch=False)
        except kernels.KernelSpecError as e:
            raise UsageError(str(e)) from None
        except OSError as e:
            raise UsageError(f"--kernel {spec}: {e.strerror or e}") from None


def validate_kernels(ns: argparse.Namespace) -> None:
    if getattr(ns, "mirror", None) is not None:
        check_mirror(ns.mirror, "--mirror")
    for env in ("KCONFORM_DEBIAN_MIRROR", "KCONFORM_DEBIAN_SECURITY_MIRROR"):
        if os.environ.get(env) is not None and getattr(ns, "mirror", None) is None:
            check_mirror(os.environ[env], f"${env}")
    # a plain "kernels list" only reads the cache
    validate_cache(write=ns.kernels_command != "list" or bool(getattr(ns, "available", False)))
    for spec in getattr(ns, "specs", None) or []:
        if not spec.strip():
            raise UsageError("kernel spec is empty")
        if spec.startswith("debian:") and not DEBIAN_SPEC.fullmatch(spec):
            raise UsageError(f"{spec!r}: {DEBIAN_HELP}")


# --------------------------------------------------------------------------- dispatch

Handler = Callable[[argparse.Namespace, Sequence[str]], int]
VALIDATORS: dict[str, Callable[[argparse.Namespace], None]] = {
    "report": validate_report, "vm": validate_vm, "kernels": validate_kernels}


BUILTIN_COMMANDS = ("run", "behaviours")  # the commands defined here; the others live in _extensions()


def build_parser(command: str | None = None) -> tuple[_Parser, dict[str, Handler]]:
    """The parser; for one of BUILTIN_COMMANDS (``command``, the first word of the arguments) without the
    other modules' subcommands, which ``run`` would import for nothing (seconds in a TCG guest)."""
    parser = _Parser(prog="kconform", description="Linux process-creation and user-worker conformance suite",
                     epilog=EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    handlers: dict[str, Handler] = {}

    run = sub.add_parser("run", help="run the suite against the running kernel", epilog=EXIT_STATUS_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(run)
    handlers["run"] = cmd_run

    sub.add_parser("behaviours", help="list the documented behaviours and their status here")
    handlers["behaviours"] = cmd_behaviours

    if command not in BUILTIN_COMMANDS:
        for register in _extensions():
            register(sub, handlers)
    return parser, handlers


def _extensions() -> list[Callable[[argparse._SubParsersAction[_Parser], dict[str, Handler]], None]]:
    """Subcommands that live in their own modules (reports, VMs)."""
    from conformance.report import cli as report_cli
    from conformance.vm import cli as vm_cli

    return [report_cli.register, vm_cli.register]


def main(argv: Sequence[str] | None = None) -> int:
    if pid1.needed():  # pid 1 of a pid namespace (a container): be its init, run kconform as the child
        return pid1.run(list(sys.argv[1:] if argv is None else argv))
    if why := ownproc.needed():  # /proc of another pid namespace: run with a /proc of our own
        return ownproc.run(list(sys.argv[1:] if argv is None else argv), why)
    interrupt.install()
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    try:
        parser, handlers = build_parser(argv[0] if argv else None)
        ns = parser.parse_args(argv)
        if not ns.command:
            raise UsageError("a command is needed (run, behaviours, report, kernels, vm; kconform -h for help)")
        if ns.command in VALIDATORS:
            VALIDATORS[ns.command](ns)
        return handlers[ns.command](ns, extra)
    except UsageError as e:
        print(f"kconform: error: {one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. kconform behaviours | head
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except interrupt.Interrupted as e:
        print(f"kconform: interrupted by {interrupt.signal_name(e.signum)}", file=sys.stderr)
        return interrupt.exit_status(e.signum)
    except KeyboardInterrupt:
        print("kconform: interrupted", file=sys.stderr)
        return interrupt.exit_status(2)


def entry() -> NoReturn:
    """The console script: like main(), and a signal that arrives once the reports are final no longer
    kills the interpreter on its way out (the run is complete; its status stands)."""
    rc = main()
    signal.pthread_sigmask(signal.SIG_BLOCK, interrupt.SIGNALS)
    try:
        if sys.stdout is not None:  # None: started with stdout closed
            sys.stdout.flush()
    except OSError as e:  # e.g. kconform report ... > /dev/full: no traceback, and not a success
        from conformance.runner import stdio

        stdio.with_devnull(sys.stdout)
        if rc == 0 and stdio.status_of(e) != stdio.EXIT_CLOSED_PIPE:
            print(f"kconform: error: {stdio.describe('stdout', e)}", file=sys.stderr)
            rc = EXIT_HARNESS
    sys.exit(rc)


if __name__ == "__main__":
    entry()
