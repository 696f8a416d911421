"""Self-tests that run kconform's suite (or change the machine's global state) take one lock for their duration (an
abstract unix socket name: machine-wide within a network namespace, nothing left behind): two such runs at once
under `pytest -n` would see each other's declared changes of global state (io_uring_disabled, drop_caches) and end
as errors naming them, which is kconform doing its job, not the test's subject. Serial runs (CI) never wait."""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]

RUNS_THE_SUITE = frozenset({
    "test_containers", "test_corrupt_config", "test_full_disk", "test_globalstate", "test_interrupt", "test_kcidb",
    "test_namespaces", "test_other_users", "test_output_errors", "test_pytest_tmp", "test_shards",
    "test_shared_machine",
})
LOCK_NAME = b"\0kconform-selftests"  # an abstract socket name: held while bound, nothing left on disk
LOCK_TIMEOUT_S = 900.0  # longer than any one self-test; a holder that long is stuck


@pytest.fixture(autouse=True)
def _machine_wide_selftest_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.module.__name__.rpartition(".")[2] not in RUNS_THE_SUITE:
        yield
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as lock:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                lock.bind(LOCK_NAME)  # released when the socket is closed, or its process dies
                break
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
                if time.monotonic() > deadline:
                    pytest.fail(f"the self-test lock (abstract socket) held by another run for {LOCK_TIMEOUT_S:.0f} s")
                time.sleep(0.05)
        yield
