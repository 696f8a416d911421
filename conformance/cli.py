"""The ``kconform`` command line.

    kconform run [--junit PATH] [--ktap PATH] [--json PATH] [--kcidb PATH [--kcidb-origin NAME]]
                 [--expectations PATH]
                 [--timeout S] [-k EXPR] [-n N] [-x] [-v] [-- pytest args...]
    kconform behaviours
    kconform report [--baseline OLD] FILES|DIR [--html PATH] [--markdown PATH]
    kconform kernels list | fetch SPEC...
    kconform vm --kernel SPEC [--kernel SPEC...] [--out DIR] [-j N] [--timeout S] [-- pytest args]

Bad input gets one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from conformance.report import writers
from conformance.report.text import aligned

EXIT_USAGE = 2


class UsageError(Exception):
    """A user mistake: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def cases_dir() -> Path:
    from conformance import registry

    return registry.cases_dir()


def check_writable(path: str | None, what: str) -> None:
    """Fail early, before a long run, when a report cannot be written."""
    if not path:
        return
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise UsageError(f"{what} path {path} is a directory")
    if not parent.is_dir():
        raise UsageError(f"{what} path {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UsageError(f"{what} path {path} is not writable")


def check_readable(path: str | None, what: str) -> None:
    if path and not os.access(path, os.R_OK):
        raise UsageError(f"{what} {path} does not exist or is not readable")


# --------------------------------------------------------------------------- run


def add_run_options(p: argparse.ArgumentParser) -> None:
    writers.add_run_options(p)  # --junit, --ktap, --json, --kcidb PATH, --kcidb-origin NAME
    p.add_argument("--expectations", metavar="PATH", help="TOML file of known deviations")
    p.add_argument("--timeout", metavar="S", type=float, help="per-case timeout in seconds (default 60)")
    p.add_argument("--label", metavar="TEXT", help="run label, part of the report suite name (e.g. vm:debian-6.12)")
    p.add_argument("--family", action="append", default=[], metavar="NAME",
                   help="only this family (clone3, resolve_cached, io_uring, vhost); repeatable")
    p.add_argument("-k", metavar="EXPR", dest="keyword", help="only cases matching EXPR (pytest -k)")
    p.add_argument("-n", metavar="N", dest="workers", help="parallel workers (pytest-xdist -n)")
    p.add_argument("-x", action="store_true", dest="exitfirst", help="stop at the first failure")
    p.add_argument("-v", action="count", default=0, dest="verbose", help="more output")
    p.add_argument("-q", action="store_true", dest="quiet", help="less output")


def pytest_args(ns: argparse.Namespace, extra: Sequence[str]) -> list[str]:
    root = cases_dir()
    families = [a for f in ns.family for a in ("--kc-family", f)]  # by behaviour id, wherever declared
    args = [str(root), *families, "--rootdir", str(root), "-p", "no:cacheprovider", "--import-mode=importlib",
            # the CLI imported the library before pytest could rewrite its asserts; it has none
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    args += writers.run_pytest_args(ns)
    if ns.expectations:
        args += ["--kc-expectations", ns.expectations]
    if ns.timeout is not None:
        args += ["--kc-timeout", str(ns.timeout)]
    if ns.label:
        args += ["--kc-suite-name", ns.label]
    if ns.keyword:
        args += ["-k", ns.keyword]
    if ns.workers:
        args += ["-n", ns.workers]
    if ns.exitfirst:
        args.append("-x")
    args += ["-v"] * ns.verbose
    if ns.quiet:
        args.append("-q")
    return args + list(extra)


def validate_run(ns: argparse.Namespace) -> None:
    for name, path in writers.requested(ns).items():
        check_writable(path, f"{writers.RUN_WRITERS[name].what} report")
    try:
        writers.check_origin(ns.kcidb_origin)
    except ValueError as e:
        raise UsageError(str(e)) from None
    check_readable(ns.expectations, "expectations file")
    if ns.expectations:
        from conformance.expectations import ExpectationError, Expectations

        try:
            Expectations.load(Path(ns.expectations))
        except ExpectationError as e:
            raise UsageError(str(e)) from None
    for family in ns.family:
        if not (cases_dir() / family).is_dir():
            known = sorted(p.name for p in cases_dir().iterdir() if (p / "table.py").exists())
            raise UsageError(f"unknown family {family!r} (known: {', '.join(known)})")
    if ns.timeout is not None and ns.timeout <= 0:
        raise UsageError("--timeout must be positive")


def cmd_run(ns: argparse.Namespace, extra: Sequence[str]) -> int:
    validate_run(ns)
    import pytest

    return int(pytest.main(pytest_args(ns, extra)))


# --------------------------------------------------------------------------- behaviours


def cmd_behaviours(ns: argparse.Namespace, extra: Sequence[str]) -> int:
    from conformance import probes
    from conformance.behaviours import BEHAVIOURS

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


# --------------------------------------------------------------------------- dispatch

Handler = Callable[[argparse.Namespace, Sequence[str]], int]


def build_parser() -> tuple[_Parser, dict[str, Handler]]:
    parser = _Parser(prog="kconform", description="Linux process-creation and user-worker conformance suite")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    handlers: dict[str, Handler] = {}

    run = sub.add_parser("run", help="run the suite against the running kernel")
    add_run_options(run)
    handlers["run"] = cmd_run

    sub.add_parser("behaviours", help="list the documented behaviours and their status here")
    handlers["behaviours"] = cmd_behaviours

    for register in _extensions():
        register(sub, handlers)
    return parser, handlers


def _extensions() -> list[Callable[[argparse._SubParsersAction[_Parser], dict[str, Handler]], None]]:
    """Subcommands that live in their own modules (reports, VMs)."""
    from conformance.report import cli as report_cli
    from conformance.vm import cli as vm_cli

    return [report_cli.register, vm_cli.register]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    try:
        parser, handlers = build_parser()
        ns = parser.parse_args(argv)
        if not ns.command:
            parser.print_help()
            return EXIT_USAGE
        return handlers[ns.command](ns, extra)
    except UsageError as e:
        print(f"kconform: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. kconform behaviours | head
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("kconform: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
