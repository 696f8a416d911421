"""Submit runs to SQUAD (Linaro's Software Quality Dashboard, the server behind LKFT's reports).

``kconform report --squad URL --squad-group G --squad-project P FILES|DIR`` sends
each run as one SQUAD test run with one POST to ``/api/submit/G/P/BUILD/ENV``
(multipart: ``tests``, ``metrics``, ``metadata``, ``log`` and ``attachment``
files; the token in the ``Auth-Token`` header, read from ``$KCONFORM_SQUAD_TOKEN``).

Names
    build        the kernel release (``--squad-build`` names another), with any
                 character SQUAD's slugs refuse (``+``, ``~``, ``:``) written ``_``:
                 ``6.12.117_deb12-amd64``; the exact release is in the metadata.
    environment  the run's label (``debian-7.3.4``; ``host`` for a run on the
                 running kernel) and the architecture: ``debian-7.3.4-x86_64``.
    suite        ``kconform-<family>`` (``kconform-clone3``), as LKFT names its
                 suites after tool and collection (``kselftest-clone3``,
                 ``ltp-syscalls``); a ``/`` in a suite would read as one more level
                 in SQUAD's own pages and URLs.
    test         ``<behaviour id>.<case id>`` (``clone3.struct_size.size-56``),
                 exactly the name the LAVA definition (ci/lava) and KTAP give, so a
                 lab moving between LAVA and direct submission keeps its history.

Results (SQUAD knows pass, fail and skip from a submitter; xfail is a fail that
matches one of the server's KnownIssue entries, which the project's maintainers
keep, per environment):

==========  ======  ==================================================
verdict     result  why
==========  ======  ==================================================
pass        pass
fail        fail
error       fail    the test did not complete; the log says ``error:``
skip        skip    the reason is the test's log
old-model   pass    the kernel follows the documented model of its
                    release; the log names the change
overridden  fail    a known deviation is still a deviation: the log
                    carries the expectation's reason and reference,
                    ``kconform.overridden`` in the metadata lists the
                    tests, and a KnownIssue on the server makes it xfail
==========  ======  ==================================================

Metrics (suite ``kconform``): ``suite-time`` (s, the run's duration) and, for a
VM result directory, ``boot-time`` (s, start of QEMU to the suite's start, from
its ``vm-timings.json``).  Metadata: every run property (``kernel.release``,
``kernel.config_digest``, ``run.privilege``, ``kconform.version`` and
``kconform.commit`` of the kconform that ran it: "unknown" in records from
before they were recorded), ``kconform.submitted_by``, ``kconform.verdicts`` (kconform's own counts) and
``job_id``, a digest of the run record, so that the same run sent twice is
refused by SQUAD as a duplicate instead of being counted twice, and
``job_status`` (``Incomplete`` for an interrupted or partial run).  Attachments:
the run as JUnit XML and KTAP, and the guest's console for a VM result directory.

Nothing is reported as done unless SQUAD answered 201 with the test run's id; a
run SQUAD already holds (same job_id) is said to be there, not submitted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import field
from pathlib import Path

from conformance.host import version
from conformance.host.records import record
from conformance.report import ktap, lava
from conformance.suite.results import RunRecord
from conformance.suite.verdict import Verdict

TOKEN_ENV = "KCONFORM_SQUAD_TOKEN"
SLUG = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")  # SQUAD's slug_pattern (builds, environments, projects)
GROUP_SLUG = re.compile(r"~?[a-zA-Z0-9][a-zA-Z0-9_.-]*")
MAX_TEST_NAME = 256  # SQUAD drops longer test names
METRIC_SUITE = "kconform"
TIMEOUT_S = 120.0

RESULT = {Verdict.PASS: "pass", Verdict.OLD_MODEL: "pass", Verdict.FAIL: "fail", Verdict.ERROR: "fail",
          Verdict.OVERRIDDEN: "fail", Verdict.SKIP: "skip"}


class SquadError(Exception):
    """The server refused or failed a submission (one line; exit status 3)."""


def slug(text: str) -> str:
    """``text`` as a SQUAD slug: characters outside ``[A-Za-z0-9_.-]`` become ``_``."""
    s = re.sub(r"[^A-Za-z0-9_.-]", "_", text.strip())
    return s if SLUG.fullmatch(s) else f"k{s}"


def suite_of(classname: str) -> str:
    return f"kconform-{classname.split('.', 1)[0]}"


def test_name(classname: str, name: str) -> str:
    return f"{suite_of(classname)}/{lava.name(classname, name)}"


@record(frozen=True)
class Attachment:
    filename: str
    data: bytes


@record
class Submission:
    """One run as one SQUAD test run."""

    build: str
    environment: str
    tests: dict[str, dict[str, str]]
    metrics: dict[str, dict[str, object]]
    metadata: dict[str, object]
    log: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    source: str = ""

    @property
    def job_id(self) -> str:
        return str(self.metadata["job_id"])

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "skip": 0}
        for t in self.tests.values():
            out[t["result"]] += 1
        return out


def _log(verdict: Verdict, message: str, details: str) -> str:
    head = f"{verdict.value}: {message}" if message and not message.startswith(verdict.value) else message
    return "\n".join(x for x in (head or verdict.value, details) if x)


def environment_of(run: RunRecord) -> str:
    p = run.properties
    label = p.get("run.label", "").removeprefix("vm:") or "host"
    return slug(f"{label}-{p.get('kernel.arch', 'unknown')}")


def build_of(run: RunRecord) -> str:
    return slug(run.properties.get("kernel.release", "unknown"))


def submission(run: RunRecord, source: Path, build: str | None = None, environment: str | None = None) -> Submission:
    """The SQUAD test run of one kconform run read from ``source`` (a record or a JUnit file; a VM
    result directory's ``vm-timings.json`` and ``console.log`` are read from beside it)."""
    from conformance.report import junit

    tests: dict[str, dict[str, str]] = {}
    for c in run.cases:
        name = test_name(c.classname, c.name)
        if len(name) > MAX_TEST_NAME:
            name = name[: MAX_TEST_NAME - 13] + "-" + hashlib.sha256(name.encode()).hexdigest()[:12]
        tests[name] = {"result": RESULT[c.verdict], "log": _log(c.verdict, c.message, c.details)}
    p = run.properties
    metrics: dict[str, dict[str, object]] = {}
    if (d := p.get("run.duration_s")) is not None:
        with contextlib.suppress(ValueError):
            metrics[f"{METRIC_SUITE}/suite-time"] = {"value": float(d), "unit": "s"}
    timings = source.parent / "vm-timings.json"
    console = source.parent / "console.log"
    if timings.is_file():
        try:
            boot = json.loads(timings.read_text()).get("boot_s")
        except (OSError, ValueError):
            boot = None
        if isinstance(boot, int | float):
            metrics[f"{METRIC_SUITE}/boot-time"] = {"value": float(boot), "unit": "s"}
    counts = run.counts()
    digest = hashlib.sha256(json.dumps({"properties": p, "cases": [c.to_json() for c in run.cases]},
                                       sort_keys=True).encode()).hexdigest()
    metadata: dict[str, object] = {
        **dict(sorted(p.items())),
        # which kconform ran it (older records did not say), and which one submitted it
        "kconform.version": p.get("kconform.version", version.UNKNOWN),
        "kconform.commit": p.get("kconform.commit", version.UNKNOWN),
        "kconform.submitted_by": f"kconform {version.version()} ({version.commit()})",
        "kconform.verdicts": ", ".join(f"{v.value} {n}" for v, n in counts.items() if n),
        "kconform.source": str(source),
        "job_id": f"kconform-{digest[:32]}",
        # SQUAD's own field for how the job ended (as LAVA reports it): an interrupted or partial run is
        # Incomplete there too (its error case is a fail, and the cases it never reached are not sent)
        "job_status": "Incomplete" if p.get("run.complete") == "no" else "Complete",
    }
    overridden = [test_name(c.classname, c.name) for c in run.cases if c.verdict is Verdict.OVERRIDDEN]
    old = [test_name(c.classname, c.name) for c in run.cases if c.verdict is Verdict.OLD_MODEL]
    if overridden:
        metadata["kconform.overridden"] = overridden
    if old:
        metadata["kconform.old_model"] = old
    attachments = [Attachment("junit.xml", junit.render([run]).encode()),
                   Attachment("kconform.ktap", ktap.render(run).encode())]
    log = ""
    if console.is_file() and timings.is_file():
        log = console.read_text(errors="replace")
        attachments.append(Attachment("console.log", log.encode()))
    return Submission(build or build_of(run), environment or environment_of(run), tests, metrics, metadata, log,
                      attachments, str(source))


# --------------------------------------------------------------------------- the server


def check_url(url: str) -> str:
    """The server's base URL, or ValueError with one line."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--squad {url!r} is not an http(s) URL of a SQUAD server")
    if parts.query or parts.fragment:
        raise ValueError(f"--squad {url!r}: the server's base URL takes no query or fragment")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ValueError(f"--squad {url!r} has an invalid port") from None
    return url.rstrip("/")


def check_slug(value: str, what: str, pattern: re.Pattern[str] = SLUG) -> None:
    if not pattern.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a SQUAD slug ([a-zA-Z0-9][a-zA-Z0-9_.-]*)")


def multipart(fields: Sequence[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """(name, filename, data) as multipart/form-data: the body and its content type."""
    boundary = f"kconform-{uuid.uuid4().hex}"
    out = bytearray()
    for name, filename, data in fields:
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'.encode()
        out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _body(e: urllib.error.HTTPError) -> str:
    try:
        text = e.read(2000).decode(errors="replace")
    except OSError:
        return ""
    if "<html" in text.lower() or "<!doctype" in text.lower():
        m = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        text = m.group(1) if m else ""
    return " ".join(text.split())[:300]


DUPLICATE = "There is already a test run with job_id"


@record(frozen=True)
class Outcome:
    sub: Submission
    testrun: str  # SQUAD's test run id; "" when SQUAD already held this run
    url: str  # where to look


class Client:
    def __init__(self, base: str, group: str, project: str, token: str, timeout: float = TIMEOUT_S) -> None:
        self.base, self.group, self.project, self.token, self.timeout = base, group, project, token, timeout

    def _q(self, s: str) -> str:
        return urllib.parse.quote(s, safe="")

    def build_url(self, build: str) -> str:
        return f"{self.base}/{self._q(self.group)}/{self._q(self.project)}/build/{self._q(build)}/"

    def submit(self, sub: Submission) -> Outcome:
        url = (f"{self.base}/api/submit/{self._q(self.group)}/{self._q(self.project)}/{self._q(sub.build)}/"
               f"{self._q(sub.environment)}")
        files = [("tests", "tests.json", json.dumps(sub.tests).encode()),
                 ("metrics", "metrics.json", json.dumps(sub.metrics).encode()),
                 ("metadata", "metadata.json", json.dumps(sub.metadata).encode())]
        if sub.log:
            files.append(("log", "console.log", sub.log.encode()))
        files += [("attachment", a.filename, a.data) for a in sub.attachments]
        body, ctype = multipart(files)
        req = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Auth-Token": self.token, "Content-Type": ctype})
        where = f"{self.base} ({sub.build}/{sub.environment})"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, text = resp.status, resp.read(200).decode(errors="replace").strip()
        except urllib.error.HTTPError as e:
            detail = _body(e)
            if e.code in (401, 403):
                raise SquadError(f"SQUAD at {self.base} refused the token from ${TOKEN_ENV} for "
                                 f"{self.group}/{self.project} (HTTP {e.code})") from None
            if e.code == 404:
                raise SquadError(f"SQUAD at {self.base} has no project {self.group}/{self.project} "
                                 f"(HTTP 404 for {url})") from None
            if e.code == 400 and DUPLICATE in detail:
                self.check_held(sub)
                return Outcome(sub, "", self.build_url(sub.build))
            raise SquadError(f"SQUAD at {where} answered HTTP {e.code}: {detail or e.reason}") from None
        except urllib.error.URLError as e:
            raise SquadError(f"cannot reach SQUAD at {self.base}: {e.reason}") from None
        except (OSError, TimeoutError) as e:
            raise SquadError(f"cannot reach SQUAD at {self.base}: {e}") from None
        if status != 201 or not text.isdigit():
            raise SquadError(f"SQUAD at {where} answered HTTP {status} {text[:100]!r}, not a new test run")
        return Outcome(sub, text, self.build_url(sub.build))

    def check_held(self, sub: Submission) -> None:
        """SQUAD refused the run as a duplicate: say so only if the test run it holds under this job_id was
        processed whole (SQUAD parses the tests and records their status in one transaction); a test run
        left half-made by an earlier failure is an error, not "already there"."""
        url = f"{self.base}/api/testruns/?job_id={urllib.parse.quote(sub.job_id)}"
        req = urllib.request.Request(url, headers={"Authorization": f"Token {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                found = json.loads(resp.read()).get("results", [])
        except (OSError, ValueError, AttributeError) as e:
            raise SquadError(f"SQUAD at {self.base} holds a test run with job_id {sub.job_id} but cannot show it: "
                             f"{e}") from None
        done = [r for r in found if isinstance(r, dict) and r.get("data_processed") and r.get("status_recorded")]
        if not done:
            raise SquadError(f"SQUAD at {self.base} holds an unfinished test run with job_id {sub.job_id} "
                             f"({sub.source}); delete it there and submit again")
