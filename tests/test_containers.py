"""What the rows expect in containers, decided from what the process observes (no container needed).

set_tid with 2 entries: EINVAL only in the initial pid namespace; one level down the answer depends on
the capability over the parent pid namespace's owner, and is unknown (a skip naming why) where our own
user namespace owns our pid namespace.  A cgroup directory that is not writable is named with its cause.
"""

from __future__ import annotations

import errno
import importlib
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conformance.host import privilege
from conformance.suite import requirements

if TYPE_CHECKING:
    from cases.clone3 import model
else:  # the installed families (as the plugin imports them)
    model = importlib.import_module("kconform_cases.clone3.model")
set_tid_two_levels = model.set_tid_two_levels
PidnsDepthKnown = model.PidnsDepthKnown

BASE = privilege.Privilege(
    euid=0, cap_effective=1 << privilege.CAP_SYS_ADMIN, cap_bounding=0, userns_initial=True,
    uid_map=((0, 0, 4294967295),), gid_map=((0, 0, 4294967295),), pidns_ours=False, pidns_initial=True,
    setgroups_allowed=True, container="", seccomp=0)


@pytest.fixture
def as_if(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def set_(priv: privilege.Privilege, owner_outside: bool | None = None) -> None:
        monkeypatch.setattr(privilege, "current", lambda: priv)
        monkeypatch.setattr(privilege, "pidns_owner_outside", lambda: owner_outside)
    return set_


def test_initial_pid_namespace_is_einval(as_if) -> None:  # type: ignore[no-untyped-def]
    as_if(BASE)
    assert set_tid_two_levels()[0] == errno.EINVAL
    as_if(replace(BASE, cap_effective=0, euid=65534))
    assert set_tid_two_levels()[0] == errno.EINVAL  # the size check comes before any capability check


def test_nested_as_root_is_eexist(as_if) -> None:  # type: ignore[no-untyped-def]
    as_if(replace(BASE, pidns_initial=False))
    assert set_tid_two_levels()[0] == errno.EEXIST


def test_nested_without_the_capability_is_eperm(as_if) -> None:  # type: ignore[no-untyped-def]
    as_if(replace(BASE, pidns_initial=False, cap_effective=0))
    assert set_tid_two_levels()[0] == errno.EPERM
    as_if(replace(BASE, pidns_initial=False, cap_effective=1 << privilege.CAP_CHECKPOINT_RESTORE))
    assert set_tid_two_levels()[0] == errno.EEXIST


def test_nested_in_a_user_namespace(as_if) -> None:  # type: ignore[no-untyped-def]
    inner = replace(BASE, pidns_initial=False, userns_initial=False, uid_map=((0, 100000, 65536),))
    as_if(inner, owner_outside=True)
    assert set_tid_two_levels()[0] == errno.EPERM
    as_if(replace(inner, pidns_ours=True), owner_outside=False)
    want, why = set_tid_two_levels()
    assert want is None and "cannot be seen from inside" in why
    assert "cannot be seen from inside" in (PidnsDepthKnown().unmet() or "")


def test_writable_directory_has_no_reason(tmp_path: Path) -> None:
    assert requirements.why_not_writable(tmp_path) is None


def test_unwritable_directory_names_owner_and_mode(tmp_path: Path, as_if) -> None:  # type: ignore[no-untyped-def]
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere (CAP_DAC_OVERRIDE)")
    d = tmp_path / "d"
    d.mkdir(mode=0o500)
    as_if(replace(BASE, euid=os.geteuid(), cap_effective=0))
    assert "its mode denies its owner" in (requirements.why_not_writable(d) or "")


def test_read_only_mount_is_named() -> None:
    """Containers often mount /sys (and so the cgroup tree) read-only."""
    ro = [Path(p) for p in ("/sys/fs/cgroup", "/sys", "/usr") if os.path.isdir(p)
          and os.statvfs(p).f_flag & os.ST_RDONLY and not os.access(p, os.W_OK)]
    if not ro:
        pytest.skip("none of /sys/fs/cgroup, /sys, /usr is a read-only mount here")
    assert "read-only mount (EROFS)" in (requirements.why_not_writable(ro[0]) or "")


def test_user_workers_private_ids_in_a_user_namespace(as_if) -> None:  # type: ignore[no-untyped-def]
    """The owner's private uid/gid range must be mapped and setgroups allowed: core requirements, one rule each."""
    private_ids = importlib.import_module("kconform_cases.user_workers.model").PRIVATE_IDS
    caps = 1 << privilege.CAP_SETUID | 1 << privilege.CAP_SETGID
    as_if(replace(BASE, cap_effective=caps))
    assert [r.unmet() for r in private_ids] == [None, None]
    inner = replace(BASE, cap_effective=caps, userns_initial=False, uid_map=((0, 100000, 65536),),
                    gid_map=((0, 100000, 65536),))
    as_if(inner)
    why = private_ids[0].unmet() or ""
    assert why.startswith("needs uid 1795162112, uid 1796210687, gid 1795162112, gid 1796210687 mapped") and \
        "the owner runs as a private uid" in why, why
    as_if(replace(BASE, cap_effective=caps, setgroups_allowed=False))
    assert private_ids[0].unmet() is None
    assert "needs setgroups (the owner runs as a private uid" in (private_ids[1].unmet() or "")
    as_if(replace(BASE, cap_effective=0))
    assert (private_ids[0].unmet() or "").startswith("needs CAP_SETUID and CAP_SETGID (the owner runs")
