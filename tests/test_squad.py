"""``kconform report --squad``: what a run becomes in SQUAD, and every way the server can say no.

The server here is a stand-in (http.server in a thread) that answers as SQUAD's
``/api/submit`` view does (201 and the test run's id; 400 with the duplicate
job_id message; 403 for a refused token; 500).  The real server is exercised by
tests/squad_stage.py (a tests/check.sh stage).
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conformance.cli.main import main
from conformance.report import squad
from conformance.suite.results import RunRecord

DATA = Path(__file__).resolve().parent / "data"
SYNTHETIC = DATA / "synthetic-6.1.json"  # every verdict (its properties say it is not a real run)
VM = DATA / "vm-debian-6.12.json"


@dataclass
class Stub:
    answers: list[tuple[int, str]]  # (status, body) per request, the last one repeats
    seen: list[dict[str, object]] = field(default_factory=list)
    url: str = ""
    held: list[dict[str, object]] = field(default_factory=list)  # GET /api/testruns/?job_id=...: its results


class _Handler(BaseHTTPRequestHandler):
    stub: Stub

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        msg = email.message_from_bytes(b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n"
                                       + body, policy=email.policy.default)
        parts: dict[str, list[tuple[str, bytes]]] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            parts.setdefault(str(name), []).append((str(part.get_filename()), bytes(payload or b"")))
        self.stub.seen.append({"path": self.path, "token": self.headers.get("Auth-Token"), "parts": parts})
        status, text = self.stub.answers[min(len(self.stub.seen), len(self.stub.answers)) - 1]
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        assert self.path.startswith("/api/testruns/?job_id=kconform-"), self.path
        assert self.headers.get("Authorization") == "Token t0ken"
        data = json.dumps({"results": self.stub.held}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub([(201, "1")])
    handler = type("H", (_Handler,), {"stub": s})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    s.url = f"http://127.0.0.1:{server.server_address[1]}"
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield s
    finally:
        server.shutdown()
        server.server_close()
        t.join(timeout=10)


def submit(url: str, *inputs: Path | str, extra: tuple[str, ...] = ()) -> int:
    return main(["report", "--squad", url, "--squad-group", "kc", "--squad-project", "qa", *extra,
                 *map(str, inputs)])


# --------------------------------------------------------------------------- mapping


def test_every_verdict_has_its_squad_result() -> None:
    run = RunRecord.load(SYNTHETIC)
    sub = squad.submission(run, SYNTHETIC)
    v = run.counts()
    by = {k.value: n for k, n in v.items()}
    assert sub.counts() == {"pass": by["pass"] + by["old-model"], "fail": by["fail"] + by["error"] + by["overridden"],
                            "skip": by["skip"]}
    assert len(sub.tests) == len(run.cases)
    for c in run.cases:
        t = sub.tests[f"kconform-{c.classname.split('.')[0]}/{c.classname}.{c.name}"]
        assert t["result"] == squad.RESULT[c.verdict]
        if c.verdict.value in ("old-model", "overridden", "error", "skip"):
            assert t["log"].startswith(c.verdict.value), t  # the log says what kconform saw
    md = sub.metadata
    assert md["kernel.release"] == run.properties["kernel.release"]
    assert md["kernel.config_digest"] == run.properties["kernel.config_digest"]
    # which kconform ran it: this record predates kconform.version/commit in run records, so "unknown"
    assert md["kconform.version"] == md["kconform.commit"] == "unknown"
    assert str(md["kconform.submitted_by"]).startswith("kconform ")
    assert str(md["job_id"]).startswith("kconform-") and "/" not in str(md["job_id"])
    assert len(md["kconform.overridden"]) == by["overridden"]  # type: ignore[arg-type]
    assert len(md["kconform.old_model"]) == by["old-model"]  # type: ignore[arg-type]
    assert {a.filename for a in sub.attachments} == {"junit.xml", "kconform.ktap"}
    assert sub.metrics == {"kconform/suite-time": {"value": float(run.properties["run.duration_s"]), "unit": "s"}}


def test_names_are_squad_slugs() -> None:
    run = RunRecord.load(VM)
    sub = squad.submission(run, VM)
    assert sub.build == "6.12.117_deb12-amd64"  # "+" is not in SQUAD's slugs; the release is in the metadata
    assert sub.environment == "debian-6.12.117_deb12-x86_64"
    assert squad.SLUG.fullmatch(sub.build) and squad.SLUG.fullmatch(sub.environment)
    assert squad.submission(run, VM, "v1", "lab-a").build == "v1"
    # the same record is the same job: SQUAD refuses it twice
    assert squad.submission(run, VM).job_id == sub.job_id


def test_vm_result_dir_sends_boot_time_and_console(tmp_path: Path) -> None:
    d = tmp_path / "debian-6.12"
    d.mkdir()
    RunRecord.load(VM).save(d / "run.json")
    (d / "vm-timings.json").write_text(json.dumps({"boot_s": 4.5, "suite_s": 20.0}))
    (d / "console.log").write_text("KC[1.0] cmd-start\n")
    sub = squad.submission(RunRecord.load(d / "run.json"), d / "run.json")
    assert sub.metrics["kconform/boot-time"] == {"value": 4.5, "unit": "s"}
    assert sub.log == "KC[1.0] cmd-start\n"
    assert "console.log" in {a.filename for a in sub.attachments}


# --------------------------------------------------------------------------- the server says yes or no


def test_submission_reaches_the_server(stub: Stub, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(squad.TOKEN_ENV, "t0ken")
    assert submit(stub.url, VM) == 0
    (req,) = stub.seen
    assert req["path"] == "/api/submit/kc/qa/6.12.117_deb12-amd64/debian-6.12.117_deb12-x86_64"
    assert req["token"] == "t0ken"
    parts = req["parts"]
    assert isinstance(parts, dict)
    tests = json.loads(parts["tests"][0][1])
    assert len(tests) == len(RunRecord.load(VM).cases)
    assert json.loads(parts["metadata"][0][1])["kernel.release"] == "6.12.117+deb12-amd64"
    assert {f for f, _ in parts["attachment"]} == {"junit.xml", "kconform.ktap"}
    out = capsys.readouterr().out
    assert "test run 1" in out and "/kc/qa/build/6.12.117_deb12-amd64/" in out


@pytest.mark.parametrize(("status", "body", "says"), [
    (403, "", "refused the token"),
    (401, "", "refused the token"),
    (500, "<html><title>Server Error (500)</title></html>", "HTTP 500: Server Error (500)"),
    (404, "", "has no project kc/qa"),
    (201, "<html>not an id</html>", "not a new test run"),
])
def test_refusals_are_one_line_and_exit_3(stub: Stub, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str], status: int, body: str,
                                          says: str) -> None:
    monkeypatch.setenv(squad.TOKEN_ENV, "t0ken")
    stub.answers = [(status, body)]
    assert submit(stub.url, VM) == 3
    cap = capsys.readouterr()
    assert cap.err.count("\n") == 1 and says in cap.err and "no run was submitted" in cap.err
    assert "test run" not in cap.out


def test_half_a_submission_is_not_done(stub: Stub, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(squad.TOKEN_ENV, "t0ken")
    stub.answers = [(201, "5"), (500, "boom")]
    assert submit(stub.url, VM, SYNTHETIC) == 3
    cap = capsys.readouterr()
    assert cap.err.count("\n") == 1
    assert "1 of 2 runs are in SQUAD" in cap.err and f"not submitted: {SYNTHETIC}" in cap.err
    assert cap.out.count("test run ") == 1


def test_a_run_squad_holds_is_not_sent_twice(stub: Stub, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(squad.TOKEN_ENV, "t0ken")
    stub.answers = [(400, "There is already a test run with job_id kconform-0123")]
    stub.held = [{"id": 3, "data_processed": True, "status_recorded": True}]
    assert submit(stub.url, VM) == 0
    assert "already there" in capsys.readouterr().out


def test_a_half_made_run_on_the_server_is_not_already_there(stub: Stub, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(squad.TOKEN_ENV, "t0ken")
    stub.answers = [(400, "There is already a test run with job_id kconform-0123")]
    stub.held = [{"id": 3, "data_processed": False, "status_recorded": False}]
    assert submit(stub.url, VM) == 3
    cap = capsys.readouterr()
    assert "unfinished test run" in cap.err and cap.err.count("\n") == 1 and "already there" not in cap.out


def test_unreachable_server_exit_3(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    monkeypatch.setenv(squad.TOKEN_ENV, "t0ken")
    assert submit(f"http://127.0.0.1:{port}", VM) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach SQUAD" in err


@pytest.mark.parametrize(("args", "says"), [
    (("--squad", "ftp://x/", "--squad-group", "g", "--squad-project", "p"), "not an http(s) URL"),
    (("--squad", "http://", "--squad-group", "g", "--squad-project", "p"), "not an http(s) URL"),
    (("--squad", "http://x:99999/", "--squad-group", "g", "--squad-project", "p"), "invalid port"),
    (("--squad", "http://x/", "--squad-project", "p"), "needs --squad-group"),
    (("--squad", "http://x/", "--squad-group", "g/h", "--squad-project", "p"), "not a SQUAD slug"),
    (("--squad", "http://x/", "--squad-group", "g", "--squad-project", "p", "--squad-build", "a+b"), "not a SQUAD"),
    (("--squad-group", "g",), "without --squad"),
    (("--squad", "http://x/", "--squad-group", "g", "--squad-project", "p", "--html", "m.html"), "takes no"),
])
def test_bad_input_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                          args: tuple[str, ...], says: str) -> None:
    monkeypatch.setenv(squad.TOKEN_ENV, "t0ken")
    monkeypatch.chdir(tmp_path)
    assert main(["report", *args, str(VM)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
    assert not (tmp_path / "m.html").exists()


def test_token_only_from_the_environment(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(squad.TOKEN_ENV, raising=False)
    assert submit("http://127.0.0.1:1", VM) == 2
    assert squad.TOKEN_ENV in capsys.readouterr().err
    assert main(["report", "--squad-token", "x", str(VM)]) == 2  # there is no such option


def test_a_run_records_which_kconform_made_it(tmp_path: Path) -> None:
    from conformance.host import version

    assert version.properties()["kconform.version"] != ""
    # a checkout's commit is read from its files: a loose ref, a packed ref, a worktree's gitdir
    repo = tmp_path / "repo"
    (repo / ".git" / "refs" / "heads").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    sha = "0123456789abcdef0123456789abcdef01234567"
    (repo / ".git" / "packed-refs").write_text(f"# pack-refs\n{sha} refs/heads/main\n")
    assert version.commit(repo) == sha
    wt = tmp_path / "wt"
    (repo / ".git" / "worktrees" / "wt").mkdir(parents=True)
    (repo / ".git" / "worktrees" / "wt" / "HEAD").write_text("ref: refs/heads/topic\n")
    (repo / ".git" / "worktrees" / "wt" / "commondir").write_text("../..\n")
    (repo / ".git" / "refs" / "heads" / "topic").write_text(sha.replace("0", "f") + "\n")
    wt.mkdir()
    (wt / ".git").write_text(f"gitdir: {repo / '.git' / 'worktrees' / 'wt'}\n")
    assert version.commit(wt) == sha.replace("0", "f")
    assert version.commit(tmp_path / "not-a-checkout") == "unknown"


def test_an_interrupted_run_is_incomplete_in_squad() -> None:
    run = RunRecord.load(VM)
    assert squad.submission(run, VM).metadata["job_status"] == "Complete"
    run.properties["run.complete"] = "no"
    assert squad.submission(run, VM).metadata["job_status"] == "Incomplete"
