"""Self-tests that run kconform's suite (or change the machine's global state) take one machine-wide lock
for their duration: two such runs at once under `pytest -n` would see each other's declared changes of
global state (io_uring_disabled, drop_caches) and end as errors naming them, which is kconform doing its
job, not the test's subject.  Serial runs (CI) never wait."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]

RUNS_THE_SUITE = frozenset({
    "test_containers", "test_corrupt_config", "test_full_disk", "test_globalstate", "test_interrupt", "test_kcidb",
    "test_namespaces", "test_other_users", "test_output_errors", "test_pytest_tmp", "test_shards",
    "test_shared_machine",
})
LOCK_PATH = "/tmp/kconform-selftests.lock"
LOCK_TIMEOUT_S = 900.0  # longer than any one self-test; a holder that long is stuck


@pytest.fixture(autouse=True)
def _machine_wide_selftest_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.module.__name__.rpartition(".")[2] not in RUNS_THE_SUITE:
        yield
        return
    fd = os.open(LOCK_PATH, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)  # any user can lock it
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{LOCK_PATH} held by another self-test for {LOCK_TIMEOUT_S:.0f} s")
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
