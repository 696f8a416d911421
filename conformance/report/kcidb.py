"""KCIDB JSON (KernelCI's common results database, schema v5.3 as kept in kcidb-io).

One run becomes one checkout (the kernel release: kconform does not know the
source commit), one build (release, architecture, config digest) and one test
per case.  Every object has the submitting ``origin`` (``kconform`` unless the
user names their CI system) and ``misc.generator = "kconform"``.

Test paths are ``kconform.<behaviour id>.<case id>``; the behaviour id is
already ``<family>.<name>``, so ``clone3.struct_size`` / ``size-56`` is
``kconform.clone3.struct_size.size-56``.  KCIDB path components are
``[a-zA-Z0-9_-]+`` joined by dots, so a dot inside an id (``warm-file.io_uring``)
would read as one more tree level.  Ids that are lowercase words joined by
single ``.``, ``_`` or ``-`` (every kconform case id) are written with each dot as
``__`` (``warm-file__io_uring``): such ids never contain ``__``, so the mapping
is one-to-one.  Any other id is escaped character by character (``_XHH`` in
uppercase hex for anything outside ``[a-z0-9-]``); uppercase never appears in
the first form, so the two cannot collide.  Harness records (behaviour
``kconform.vm``, ``kconform.harness``, ...) keep their name: ``kconform.vm.boot-and-run``.

Statuses (KCIDB: FAIL > ERROR > MISS > PASS > DONE > SKIP):

============  ======  ==========================================================
verdict       status  why
============  ======  ==========================================================
pass          PASS
fail          FAIL
error         ERROR   the test did not complete (harness, timeout, leak, taint)
skip          SKIP    reason in ``log_excerpt`` and ``misc.skip_reason``
old-model     PASS    the kernel ran the case and follows the documented model
                      of its release; ``misc`` names the change and its commit
overridden    FAIL    the kernel deviates; the expectation file's reason is an
                      ``issue`` with an ``incident`` on this test (how KCIDB
                      records known problems), so triage shows it as known
not run       MISS    the case was collected but never ran (interrupted run)
============  ======  ==========================================================

``misc.kconform_verdict`` always carries kconform's own verdict.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from conformance.host.arch import kbuild_name
from conformance.host.records import record
from conformance.suite.results import RunRecord
from conformance.suite.verdict import Verdict

SCHEMA_MAJOR, SCHEMA_MINOR = 5, 3
DEFAULT_ORIGIN = "kconform"
ORIGIN_RE = re.compile(r"[a-z0-9_]+")  # KCIDB's origin pattern
PATH_ROOT = "kconform"
MAX_EXCERPT = 16384  # KCIDB's log_excerpt limit

STATUS = {
    Verdict.PASS: "PASS",
    Verdict.FAIL: "FAIL",
    Verdict.ERROR: "ERROR",
    Verdict.SKIP: "SKIP",
    Verdict.OLD_MODEL: "PASS",
    Verdict.OVERRIDDEN: "FAIL",
}
NOT_RUN_STATUS = "MISS"

_PLAIN_ID = re.compile(r"[a-z0-9-]+(?:[._][a-z0-9-]+)*")


@record(frozen=True)
class CaseKey:
    """A case by identity: behaviour id and case id."""

    behaviour: str
    case: str


def component(text: str) -> str:
    """One id as KCIDB path components (see the module docstring)."""
    if _PLAIN_ID.fullmatch(text):
        return text.replace(".", "__")
    out = "".join(c if re.fullmatch(r"[a-z0-9-]", c) else f"_X{ord(c):02X}" for c in text)
    return out or "_X00"


def test_path(behaviour: str, case: str) -> str:
    """``kconform.<family>.<name>.<case>``; harness records ``kconform.<what>.<name>``."""
    family, _, name = behaviour.removeprefix(PATH_ROOT + ".").partition(".")
    parts = [PATH_ROOT, component(family), *([component(name)] if name else []), component(case)]
    return ".".join(parts)


def check_origin(origin: str) -> str:
    if not ORIGIN_RE.fullmatch(origin):
        raise ValueError(f"KCIDB origin {origin!r} must be lowercase letters, digits and '_'")
    return origin


def _time(stamp: str) -> str | None:
    """run.started is UTC without a zone; KCIDB wants RFC 3339."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", stamp):
        return None
    return stamp + "+00:00"


def _text(s: str, limit: int = MAX_EXCERPT) -> str:
    s = s.replace("\0", "")
    return s if len(s) <= limit else s[: limit - 16] + "\n[... truncated]"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _env(p: dict[str, str]) -> dict[str, Any]:
    misc = {k: v for k, v in sorted(p.items()) if k.startswith(("run.", "vm.")) and k != "run.started"}
    host = p.get("run.hostname", "")
    label = p.get("run.label", "")
    comment = " ".join(x for x in (host, f"({label})" if label else "") if x)
    env: dict[str, Any] = {"misc": misc}
    if comment:
        env["comment"] = comment
    return env


def _test(origin: str, build_id: str, run_key: str, p: dict[str, str], behaviour: str, case: str, status: str,
          verdict: str, message: str, details: str = "", duration: float = 0.0) -> dict[str, Any]:
    path = test_path(behaviour, case)
    misc: dict[str, Any] = {"generator": "kconform", "kconform_verdict": verdict, "behaviour": behaviour, "case": case}
    if verdict in _MISC_MESSAGE:
        misc[_MISC_MESSAGE[verdict]] = message
    t: dict[str, Any] = {
        "id": f"{origin}:{run_key}:{path}",
        "build_id": build_id,
        "origin": origin,
        "path": path,
        "status": status,
        "duration": round(max(duration, 0.0), 6),
        "environment": _env(p),
        "misc": misc,
    }
    if (start := _time(p.get("run.started", ""))) is not None:
        t["start_time"] = start
    if message:
        t["comment"] = _text(" ".join(message.split()), 4096)
    if excerpt := "\n".join(x for x in (message, details) if x):
        t["log_excerpt"] = _text(excerpt)
    return t


_MISC_MESSAGE = {Verdict.SKIP.value: "skip_reason", Verdict.OLD_MODEL.value: "old_model",
                 Verdict.OVERRIDDEN.value: "known_deviation"}


def _known_deviation(origin: str, test: dict[str, Any], message: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An overridden case: the expectation file's reason as a KCIDB issue, and its incident on the test."""
    issue_id = f"{origin}:known:{test['path']}"
    issue = {"id": issue_id, "version": 1, "origin": origin, "comment": _text(" ".join(message.split()), 4096),
             "culprit": {"code": True, "tool": False, "harness": False},
             "misc": {"generator": "kconform", "source": "kconform expectation file"}}
    incident = {"id": f"{issue_id}:{test['id']}", "origin": origin, "issue_id": issue_id, "issue_version": 1,
                "test_id": test["id"], "present": True}
    return issue, incident


def build(run: RunRecord, origin: str = DEFAULT_ORIGIN, not_run: Sequence[CaseKey] = (),
          not_run_reason: str = "the run ended before this case ran") -> dict[str, Any]:
    """The KCIDB document of one run (checkout, build, tests, known-deviation issues)."""
    check_origin(origin)
    p = dict(run.properties)
    release = p.get("kernel.release", "") or "unknown"
    arch = kbuild_name(p.get("kernel.arch", ""))  # the kernel's name (arm64), as KCIDB's other origins write it
    digest = p.get("kernel.config_digest", "")
    checkout_id = f"{origin}:linux-{release}"
    build_id = f"{origin}:linux-{release}:{arch or 'unknown'}:{digest or 'unknown'}"
    run_key = _digest(release, arch, digest, p.get("run.hostname", ""), p.get("run.started", ""),
                      p.get("run.label", ""), p.get("run.uid", ""))
    checkout: dict[str, Any] = {
        "id": checkout_id, "origin": origin, "comment": f"Linux {release}",
        "misc": {"generator": "kconform", "kernel_release": release,
                 "note": "the release reported by the kernel under test; the source commit is not known"},
    }
    bld: dict[str, Any] = {
        "id": build_id, "checkout_id": checkout_id, "origin": origin,
        "comment": f"Linux {release} {arch}".strip(),
        "misc": {"generator": "kconform",
                 **{k.removeprefix("kernel."): v for k, v in sorted(p.items()) if k.startswith("kernel.")}},
    }
    if arch and re.fullmatch(r"[a-z0-9_]+", arch):
        bld["architecture"] = arch
    if digest:
        bld["config_name"] = f"config-{digest}"
    tests: list[dict[str, Any]] = []
    issues: list[dict[str, Any]] = []
    incidents: list[dict[str, Any]] = []
    for rec in run.cases:
        t = _test(origin, build_id, run_key, p, rec.classname, rec.name, STATUS[rec.verdict], rec.verdict.value,
                  rec.message, rec.details, rec.duration)
        t["misc"]["nodeid"] = rec.nodeid
        tests.append(t)
        if rec.verdict is Verdict.OVERRIDDEN:
            issue, incident = _known_deviation(origin, t, rec.message)
            issues.append(issue)
            incidents.append(incident)
    ran = {(r.classname, r.name) for r in run.cases}
    tests += [_test(origin, build_id, run_key, p, k.behaviour, k.case, NOT_RUN_STATUS, "not-run",
                    f"not run: {not_run_reason}") for k in not_run if (k.behaviour, k.case) not in ran]
    paths = [t["path"] for t in tests]
    if len(paths) != len(set(paths)):
        dup = sorted({x for x in paths if paths.count(x) > 1})
        raise ValueError(f"two cases map to the same KCIDB path: {', '.join(dup[:3])}")
    doc: dict[str, Any] = {"version": {"major": SCHEMA_MAJOR, "minor": SCHEMA_MINOR},
                           "checkouts": [checkout], "builds": [bld], "tests": tests}
    if issues:
        doc["issues"], doc["incidents"] = issues, incidents
    return doc


def render(run: RunRecord, origin: str = DEFAULT_ORIGIN, not_run: Sequence[CaseKey] = ()) -> str:
    return json.dumps(build(run, origin, not_run), indent=1) + "\n"
