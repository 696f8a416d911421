"""openat2(RESOLVE_CACHED) conformance cases, one row each.

Model: cases/kernel-facts.md §2 (fs/open.c build_open_flags, fs/namei.c
path_init / try_to_unlazy / complete_walk).  Every row runs in a fresh child
on a fresh directory (model.LAYOUT), once per variant (model.VARIANTS: the
syscall, and IORING_OP_OPENAT2 as ``<id>.io_uring``).  Ids are stable: never
rename one.
"""

from __future__ import annotations

import errno
import os

from conformance.host.uapi import (
    EFTYPE,
    O_EMPTYPATH,
    OPENAT2_REGULAR,
    RESOLVE_BENEATH,
    RESOLVE_CACHED,
    RESOLVE_IN_ROOT,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
)
from conformance.isolation.globallock import Lock
from conformance.native.uring import Setup
from conformance.suite.case import OldModel
from conformance.suite.requirements import INIT_PRIVILEGED, Feature, Requirement

from .model import OPENAT2 as OPENAT2_FEATURE
from .model import (
    AtimeUpdates,
    CachedCase,
    CreatedRegular,
    Fs,
    IsDirectory,
    OpenFlags,
    RcuWalkRoot,
    SameFile,
    Scenario,
    cached_case,
    opens,
    refused,
    with_variants,
)

EAGAIN, ENOENT, EXDEV, ELOOP, EINVAL = errno.EAGAIN, errno.ENOENT, errno.EXDEV, errno.ELOOP, errno.EINVAL
EACCES, EISDIR, ENXIO, ENOTDIR = errno.EACCES, errno.EISDIR, errno.ENXIO, errno.ENOTDIR
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC = os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC
O_DIRECTORY, O_PATH, O_NOFOLLOW, O_NONBLOCK, O_TMPFILE = (
    os.O_DIRECTORY, os.O_PATH, os.O_NOFOLLOW, os.O_NONBLOCK, os.O_TMPFILE,
)
C = RESOLVE_CACHED
S = Scenario

O_DIRECTORY_FIX = OldModel("6.5", "a0fc452a5d7f", "RESOLVE_CACHED tested O_TMPFILE (which includes O_DIRECTORY), "
                           "so every O_DIRECTORY open was EAGAIN", expect=refused(EAGAIN))
# "proc: allow pid_revalidate() during LOOKUP_RCU" (Stephen Brennan; v6 posted 4 Oct 2021, merged through
# akpm in the 5.16 merge window).  Often dated 5.15, but the kernel.org revlists put
# da4d6b9cf80a between "Merge tag '9p-for-5.16-rc1'" and "Merge branch 'akpm'", so it is 5.16.
PROC_RCU = OldModel("5.16", "da4d6b9cf80a", "pid_revalidate() returned -ECHILD under LOOKUP_RCU, so every "
                    "/proc/<pid> dentry forced ref-walk: EAGAIN under RESOLVE_CACHED however warm the dcache",
                    expect=refused(EAGAIN))
PROC = "/proc"  # the dfd of the procfs rows
WARM_SELF = ("/proc/self/status",)
PROC_DFD_DOC = ("Walked from a /proc dfd (opened O_PATH before the warm-up), so only procfs dentries are "
                "revalidated: an absolute path also revalidates the root filesystem's 'proc' mount-point dentry, "
                "and on a root whose ->d_revalidate refuses LOOKUP_RCU (the VM guests: overlayfs over virtio-9p, "
                "fs/9p/vfs_dentry.c returns -ECHILD) that alone is EAGAIN on every kernel; see "
                "proc-self-status-absolute-after-lookup.")

MIDWALK_DOC = ("fs/namei.c: link_path_walk() meets the error in RCU mode and must call try_to_unlazy() to "
               "confirm it (ENOTDIR: the d_can_lookup() branch; EACCES: may_lookup() drops out of RCU 'to make "
               "sure it wasn't transient'); try_to_unlazy() always fails under LOOKUP_CACHED, the walk ends "
               "with -ECHILD and the ref-walk retry becomes EAGAIN.  Only errors of the last component and of "
               "the final open are preserved.")

ROWS: tuple[CachedCase, ...] = (
    # ---- flags that can never be satisfied from the cache ---------------------------------------
    cached_case("o-creat-new", "create_trunc_tmpfile", S("new", O_CREAT | O_WRONLY, 0o644), refused(EAGAIN),
                doc="build_open_flags() rejects O_CREAT before any lookup"),
    cached_case("o-creat-existing-warm", "create_trunc_tmpfile", S("warm", O_CREAT | O_RDONLY, 0o644,
                warm=("warm",)), refused(EAGAIN), doc="even for a name that is in the dcache"),
    cached_case("o-trunc-existing-warm", "create_trunc_tmpfile", S("warm", O_TRUNC | O_WRONLY, warm=("warm",)),
                refused(EAGAIN)),
    cached_case("o-tmpfile", "create_trunc_tmpfile", S(".", O_TMPFILE | O_WRONLY, 0o600, warm=(".",)),
                refused(EAGAIN)),
    # ---- O_DIRECTORY (a0fc452a5d7f) ---------------------------------------------------------------
    cached_case("o-directory-warm", "o_directory", S("sub", O_DIRECTORY, warm=("sub",), same_as="sub"),
                opens(IsDirectory(), SameFile()), old=O_DIRECTORY_FIX,
                doc="fixed in the 6.5 cycle and in stable trees from 5.10: old-model only below 6.5"),
    cached_case("o-directory-dot", "o_directory", S(".", O_DIRECTORY, same_as="."),
                opens(IsDirectory(), SameFile()), old=O_DIRECTORY_FIX),
    # ---- the warm path ----------------------------------------------------------------------------
    cached_case("warm-file", "warm", S("warm", warm=("warm",), same_as="warm"), opens(SameFile())),
    cached_case("warm-nested", "warm", S("sub/inner", warm=("sub/inner",), same_as="sub/inner"),
                opens(SameFile())),
    cached_case("warm-absolute", "warm", S("{dir}/warm", warm=("{dir}/warm",), same_as="{dir}/warm"),
                opens(SameFile()), needs=(RcuWalkRoot(),),
                doc="every component from / down is in the dcache; the root filesystem's dentries must "
                    "revalidate in RCU-walk (RcuWalkRoot)"),
    cached_case("warm-fast-symlink", "warm", S("link", warm=("link",), same_as="warm"), opens(SameFile()),
                doc="a fast symlink that was followed once needs no ref-walk, as long as no atime update is due "
                    "(the tree's links have their atime ahead of ctime: pick_link unlazies for touch_atime; under "
                    "strictatime every new tick needs one)"),
    cached_case("symlink-atime-due", "atime_update", S("stale-link"), refused(EAGAIN), needs=(AtimeUpdates(),),
                doc="the link and its target are in the dcache (just made), but its atime is older than its ctime: "
                    "pick_link() must leave RCU-walk for touch_atime(), so RESOLVE_CACHED refuses"),
    cached_case("warm-symlink-itself-o-path", "warm", S("link", O_PATH | O_NOFOLLOW, warm=("link",)), opens()),
    cached_case("warm-fifo-nonblock", "warm", S("fifo", O_RDONLY | O_NONBLOCK, warm=("fifo",)), opens()),
    # ---- not in the dcache ------------------------------------------------------------------------
    cached_case("never-looked-up", "cold", S("absent"), refused(EAGAIN),
                doc="a name never looked up has no dentry: lookup_fast misses, lookup_slow needs ref-walk"),
    cached_case("never-looked-up-nested", "cold", S("sub/absent"), refused(EAGAIN)),
    cached_case("after-drop-caches", "cold", S("warm", warm=("warm",), setup=Setup.DROP_CACHES), refused(EAGAIN),
                needs=(INIT_PRIVILEGED,), lock=Lock.EXCLUSIVE,
                doc="the child looks the fresh file up, writes 2 to /proc/sys/vm/drop_caches (twice: a recently "
                    "used dentry is only rotated on the first shrink pass) and opens it with RESOLVE_CACHED; "
                    "nothing holds a reference to the file's dentry.  Holds the global lock exclusively: every "
                    "other dentry-cache case waits"),
    # ---- negative dentries --------------------------------------------------------------------------
    cached_case("negative-dentry", "negative_dentry", S("absent", warm=("absent",)), refused(ENOENT),
                doc="the failed stat() leaves a negative dentry; a cached negative dentry is ENOENT"),
    cached_case("negative-dentry-nested", "negative_dentry", S("sub/absent", warm=("sub/absent",)),
                refused(ENOENT)),
    cached_case("tmpfs-missing-never-looked-up", "negative_dentry", S("absent", fs=Fs.TMPFS), refused(EAGAIN)),
    cached_case("tmpfs-missing-after-lookup", "negative_dentry", S("absent", warm=("absent",), fs=Fs.TMPFS),
                refused(EAGAIN),
                doc="tmpfs (simple_lookup, always_delete_dentry) keeps no negative dentries: the failed stat() "
                    "leaves nothing behind, so the name stays uncached and EAGAIN every time"),
    cached_case("tmpfs-warm-file", "warm", S("warm", warm=("warm",), fs=Fs.TMPFS, same_as="warm"),
                opens(SameFile())),
    # ---- procfs -------------------------------------------------------------------------------------
    cached_case("proc-self-status-first-contact", "procfs", S("self/status", start=PROC, fs=Fs.ANY),
                refused(EAGAIN), doc="in a new process nothing under /proc/<its pid> is in the dcache yet. "
                + PROC_DFD_DOC),
    cached_case("proc-self-status-after-lookup", "procfs", S("self/status", start=PROC, warm=("self/status",),
                fs=Fs.ANY, same_as="self/status"), opens(SameFile()), old=PROC_RCU,
                doc="self, <pid> and status all stay in RCU-walk: /proc/self is a symlink whose "
                    "proc_self_get_link works without a dentry, and under relatime the warm-up's follow leaves its "
                    "atime newer than its mtime, so pick_link() needs no touch_atime (a strictatime /proc would "
                    "need one at every new timestamp); pid_revalidate() works under LOOKUP_RCU since "
                    "da4d6b9cf80a (5.16).  Observed: 6.1.0-56, 6.12.117+deb12 and 6.18 open it. " + PROC_DFD_DOC),
    cached_case("proc-self-dir-after-lookup", "procfs", S("self", O_DIRECTORY, start=PROC, warm=("self",),
                fs=Fs.ANY, same_as="self"), opens(IsDirectory(), SameFile()), old=PROC_RCU,
                doc="/proc/self is a plain symlink whose get_link works in RCU mode; "
                "needs the O_DIRECTORY fix a0fc452a5d7f too (6.5, in stable from 5.10). " + PROC_DFD_DOC),
    cached_case("proc-self-status-absolute-after-lookup", "procfs", S("/proc/self/status", warm=WARM_SELF,
                fs=Fs.ANY, same_as="/proc/self/status"), opens(SameFile()), needs=(RcuWalkRoot("/proc"),), old=PROC_RCU,
                doc="the absolute path: also revalidates the root filesystem's 'proc' mount-point dentry in "
                    "RCU-walk, so it needs a root that allows that (RcuWalkRoot skips it on e.g. overlayfs over "
                    "9p, where ->d_revalidate returns -ECHILD under LOOKUP_RCU and every absolute path is EAGAIN "
                    "at its first component on any kernel)"),
    cached_case("proc-self-fd-magic-link", "procfs", S("self/fd/100", start=PROC, warm=("self/fd/100",),
                setup=Setup.FD100, fs=Fs.ANY), refused(EAGAIN),
                doc="a magic link: proc_pid_get_link needs the dentry (-ECHILD in RCU), even when looked up "
                    "before. " + PROC_DFD_DOC),
    cached_case("proc-self-cwd-magic-link", "procfs", S("self/cwd", O_DIRECTORY, start=PROC, warm=("self/cwd",),
                fs=Fs.ANY), refused(EAGAIN), doc=PROC_DFD_DOC),
    cached_case("proc-self-exe-magic-link", "procfs", S("self/exe", start=PROC, warm=("self/exe",), fs=Fs.ANY),
                refused(EAGAIN), doc=PROC_DFD_DOC),
    # ---- RESOLVE_* restrictions together with RESOLVE_CACHED --------------------------------------
    cached_case("beneath-dotdot-escape", "scoped", S("../warm", resolve=C | RESOLVE_BENEATH, start="sub",
                warm=("../warm",)), refused(EXDEV, EAGAIN, restriction=True),
                doc="'..' at the root in RCU-walk returns -ECHILD (follow_dotdot_rcu), so the kernel may give "
                    "EAGAIN instead of EXDEV; 6.18 gives EAGAIN.  Never an open"),
    cached_case("beneath-absolute", "scoped", S("{dir}/warm", resolve=C | RESOLVE_BENEATH, start="sub",
                warm=("{dir}/warm",)), refused(EXDEV, EAGAIN, restriction=True),
                doc="nd_jump_root() refuses an absolute path at once; 6.18 gives EXDEV"),
    cached_case("beneath-inside", "scoped", S("sub/../warm", resolve=C | RESOLVE_BENEATH,
                warm=("sub/../warm",), same_as="warm"), opens(SameFile()),
                doc="'..' that stays below the root is allowed"),
    cached_case("in-root-dotdot-clamped", "scoped", S("../warm", resolve=C | RESOLVE_IN_ROOT, start="sub",
                warm=("warm",), same_as="warm"), opens(SameFile()),
                doc="'..' at the root stays at the root: sub/warm, never the outer warm"),
    cached_case("in-root-absolute", "scoped", S("/warm", resolve=C | RESOLVE_IN_ROOT, start="sub",
                warm=("warm",), same_as="warm"), opens(SameFile()),
                doc="an absolute path starts at the dfd: sub/warm"),
    cached_case("beneath-and-in-root", "scoped", S("warm", resolve=C | RESOLVE_BENEATH | RESOLVE_IN_ROOT),
                refused(EINVAL), doc="argument validation comes before any lookup"),
    cached_case("no-xdev-into-proc", "scoped", S("/proc/self/status", resolve=C | RESOLVE_NO_XDEV, warm=WARM_SELF),
                refused(EXDEV, EAGAIN, restriction=True),
                doc="crossing into the procfs mount: __follow_mount_rcu refuses in RCU-walk (-ECHILD), so EAGAIN "
                    "may replace EXDEV; 6.18 gives EAGAIN.  Stays absolute (the crossing is the point); on a root "
                    "that cannot revalidate in RCU-walk the EAGAIN comes from the 'proc' dentry already"),
    cached_case("no-xdev-dotdot-up-a-mount", "scoped", S("../..", O_DIRECTORY, resolve=C | RESOLVE_NO_XDEV,
                warm=("../..",), fs=Fs.TMPFS), refused(EXDEV, EAGAIN, restriction=True),
                doc="from /dev/shm/<dir> '..' twice leaves the tmpfs mount; 6.18 gives EAGAIN"),
    cached_case("no-xdev-same-mount", "scoped", S("sub/inner", resolve=C | RESOLVE_NO_XDEV, warm=("sub/inner",),
                same_as="sub/inner"), opens(SameFile())),
    cached_case("no-symlinks", "scoped", S("link", resolve=C | RESOLVE_NO_SYMLINKS, warm=("link",)),
                refused(ELOOP, EAGAIN, restriction=True),
                doc="pick_link() refuses before any unlazy: 6.18 gives ELOOP"),
    cached_case("no-symlinks-link-itself", "scoped", S("link", O_PATH | O_NOFOLLOW, resolve=C | RESOLVE_NO_SYMLINKS,
                warm=("link",)), opens(), doc="the link is not followed, so nothing is refused"),
    cached_case("no-magiclinks-exe", "scoped", S("self/exe", resolve=C | RESOLVE_NO_MAGICLINKS, start=PROC,
                warm=("self/exe",), fs=Fs.ANY), refused(ELOOP, EAGAIN, restriction=True),
                doc="the magic link's get_link needs ref-walk first, so EAGAIN may replace ELOOP; 6.18: EAGAIN. "
                    + PROC_DFD_DOC),
    cached_case("no-magiclinks-self-status", "scoped", S("self/status", resolve=C | RESOLVE_NO_MAGICLINKS,
                start=PROC, warm=("self/status",), fs=Fs.ANY, same_as="self/status"), opens(SameFile()),
                old=PROC_RCU,
                doc="/proc/self is an ordinary symlink, not a magic link. " + PROC_DFD_DOC),
    # ---- errors of the last component and of the final open ----------------------------------------
    cached_case("final-eacces-mode-000", "final_errors", S("noperm", warm=("noperm",), setup=Setup.FSID),
                refused(EACCES), doc="may_open() on a mode-000 file, fsuid 65534 (own uid unprivileged)"),
    cached_case("final-eisdir", "final_errors", S("sub", O_WRONLY, warm=("sub",)), refused(EISDIR)),
    cached_case("final-enoent-negative", "final_errors", S("sub/gone", warm=("sub/gone",)), refused(ENOENT)),
    cached_case("final-enxio-fifo", "final_errors", S("fifo", O_WRONLY | O_NONBLOCK, warm=("fifo",)),
                refused(ENXIO), doc="a FIFO without readers opened O_WRONLY|O_NONBLOCK"),
    cached_case("final-eloop-nofollow", "final_errors", S("link", O_NOFOLLOW, warm=("link",)), refused(ELOOP)),
    # ---- errors found mid-walk ----------------------------------------------------------------------
    cached_case("midwalk-enotdir", "midwalk_errors", S("warm/x", warm=("warm",)), refused(EAGAIN),
                doc=MIDWALK_DOC),
    cached_case("midwalk-enotdir-uncached", "midwalk_errors", S("warm/x", resolve=0, warm=("warm",)),
                refused(ENOTDIR), doc="control: the same walk without RESOLVE_CACHED"),
    # "rcu pathwalk: prevent bogus hard errors from may_lookup()" (Al Viro; posted 4 Feb 2024 as 02/13 of the
    # pathwalk-rcu series, pulled as tags/pull-fixes.pathwalk-rcu-2 and listed in the 6.8-rc6 shortlog): no
    # Cc: stable, and Debian 6.1.0-56 (6.1.192) still gives EACCES, so not in 6.1.y.
    cached_case("midwalk-search-denied", "midwalk_errors", S("locked/f", warm=("locked",), setup=Setup.FSID),
                refused(EAGAIN),
                old=OldModel("6.8", "cdb67fdeed72", "a search-permission failure on an intermediate directory "
                             "came back as EACCES from RCU-walk", expect=refused(EACCES)),
                doc="a component under a directory nobody may search (mode 0600), fsuid 65534. " + MIDWALK_DOC
                + "  Before 6.8 (cdb67fdeed72, 'rcu pathwalk: prevent bogus hard errors from may_lookup()') "
                "may_lookup() returned any RCU-mode permission error other than -ECHILD as it was, without "
                "try_to_unlazy(), so this walk gave EACCES even under RESOLVE_CACHED; the commit confirms a hard "
                "error by leaving RCU mode first, which LOOKUP_CACHED refuses."),
    cached_case("midwalk-search-denied-uncached", "midwalk_errors", S("locked/f", resolve=0, warm=("locked",),
                setup=Setup.FSID), refused(EACCES), doc="control: the same walk without RESOLVE_CACHED"),
)

# ---- openat2 flags beside RESOLVE_CACHED (7.2): OPENAT2_REGULAR and O_EMPTYPATH ----------------------------
R, E = OPENAT2_REGULAR, O_EMPTYPATH
REGULAR: tuple[Requirement, ...] = (Feature("openat2.regular"),)
EMPTYPATH: tuple[Requirement, ...] = (Feature("open.emptypath"),)
DFD_ANY = Setup.DFD_ANY
REGULAR_DOC = ("fs/namei.c do_open(): after complete_walk() and the O_CREAT checks, '__O_REGULAR && "
               "!d_is_reg()' is EFTYPE, before may_open() and vfs_open(), so the open itself never runs. ")
URING_EMPTY_DOC = ("IORING_OP_OPENAT2 differs here: io_uring/openclose.c __io_openat_prep() copies the name "
                   "with delayed_getname(), which has no LOOKUP_EMPTY, so an empty name is ENOENT at prep time "
                   "whatever open_how.flags say (7.3.4: build_open_flags() sets LOOKUP_EMPTY for O_EMPTYPATH, but "
                   "only do_sys_openat2() passes that to the name copy).  The syscall done next in the same child "
                   "must still give the row's answer. ")

NEW_FLAG_ROWS: tuple[CachedCase, ...] = (
    # ---- OPENAT2_REGULAR, warm names: the type is judged after the walk --------------------------------
    cached_case("regular-warm-file", "openat2_regular", S("warm", O_RDONLY | R, warm=("warm",), same_as="warm"),
                opens(SameFile(), OpenFlags(O_RDONLY)), needs=REGULAR,
                doc="a cached regular file opens; F_GETFL shows neither OPENAT2_REGULAR (it cannot: F_GETFL is an "
                    "int) nor the kernel's carrier __O_REGULAR (bit 30, stripped in do_dentry_open())"),
    cached_case("regular-warm-fifo", "openat2_regular", S("fifo", O_RDONLY | R, warm=("fifo",)), refused(EFTYPE),
                needs=REGULAR, doc=REGULAR_DOC + "A FIFO opened O_RDONLY without O_NONBLOCK would block for a "
                "writer: EFTYPE comes first, so it does not"),
    cached_case("regular-warm-directory", "openat2_regular", S("sub", O_RDONLY | R, warm=("sub",)),
                refused(EFTYPE), needs=REGULAR, doc=REGULAR_DOC + "A directory without O_DIRECTORY: EFTYPE, not "
                "EISDIR (that is for O_CREAT and write access)"),
    cached_case("regular-symlink-nofollow", "openat2_regular", S("link", O_RDONLY | O_NOFOLLOW | R, warm=("link",)),
                refused(EFTYPE), needs=REGULAR, doc=REGULAR_DOC + "The symlink itself is the last component: "
                "EFTYPE comes before may_open()'s ELOOP (compare final-eloop-nofollow)"),
    cached_case("regular-symlink-followed", "openat2_regular", S("link", O_RDONLY | R, warm=("link",),
                same_as="warm"), opens(SameFile(), OpenFlags(O_RDONLY)), needs=REGULAR,
                doc="the type is that of the file the link leads to"),
    cached_case("regular-o-path", "openat2_regular", S("warm", O_PATH | R), refused(EINVAL), needs=REGULAR,
                doc="build_open_flags(): O_PATH allows only O_PATH_FLAGS, checked before OPENAT2_REGULAR is turned "
                    "into __O_REGULAR"),
    # ---- OPENAT2_REGULAR with O_CREAT, without RESOLVE_CACHED (which refuses O_CREAT outright) ----------
    cached_case("regular-creat-new", "openat2_regular", S("new", O_CREAT | O_WRONLY | R, 0o640, resolve=0,
                same_as="new"), opens(CreatedRegular(0o640), OpenFlags(O_WRONLY), SameFile(), creates="new"),
                needs=REGULAR,
                doc="creates a regular file with the mode asked for (less the umask); nothing else appears"),
    cached_case("regular-creat-existing", "openat2_regular", S("warm", O_CREAT | O_RDONLY | R, 0o640, resolve=0,
                same_as="warm"), opens(SameFile(), OpenFlags(O_RDONLY)), needs=REGULAR,
                doc="an existing regular file is opened, not replaced"),
    cached_case("regular-creat-fifo", "openat2_regular", S("fifo", O_CREAT | O_WRONLY | R, 0o640, resolve=0),
                refused(EFTYPE), needs=REGULAR, doc=REGULAR_DOC + "An existing FIFO: EFTYPE, not ENXIO (no reader), "
                "and nothing is created"),
    cached_case("regular-creat-directory", "openat2_regular", S("sub", O_CREAT | O_WRONLY | R, 0o640, resolve=0),
                refused(EISDIR), needs=REGULAR, doc="do_open(): O_CREAT on an existing directory is EISDIR, "
                "checked before __O_REGULAR"),
    # ---- which answer wins beside RESOLVE_CACHED ----------------------------------------------------------
    cached_case("regular-o-directory", "regular_precedence", S("sub", O_DIRECTORY | R, warm=("sub",)),
                refused(EINVAL), needs=REGULAR, doc="build_open_flags(): O_DIRECTORY|OPENAT2_REGULAR is "
                "contradictory, EINVAL before any lookup"),
    cached_case("regular-o-directory-trunc", "regular_precedence", S("warm", O_DIRECTORY | O_TRUNC | O_WRONLY | R,
                warm=("warm",)), refused(EINVAL), needs=REGULAR,
                doc="the EINVAL of O_DIRECTORY|OPENAT2_REGULAR comes before RESOLVE_CACHED's EAGAIN for O_TRUNC "
                    "(both in build_open_flags(), the RESOLVE_CACHED test last)"),
    cached_case("regular-creat-cached", "regular_precedence", S("new", O_CREAT | O_WRONLY | R, 0o640),
                refused(EAGAIN), needs=REGULAR, doc="RESOLVE_CACHED refuses O_CREAT before any lookup: EAGAIN, and "
                "nothing is created"),
    cached_case("regular-trunc-fifo-cached", "regular_precedence", S("fifo", O_TRUNC | O_WRONLY | R,
                warm=("fifo",)), refused(EAGAIN), needs=REGULAR,
                doc="a cached FIFO, but O_TRUNC under RESOLVE_CACHED is EAGAIN before the walk: EFTYPE is never "
                    "reached"),
    cached_case("regular-never-looked-up", "regular_precedence", S("absent", O_RDONLY | R), refused(EAGAIN),
                needs=REGULAR, doc="a name not in the dcache: the walk must leave RCU mode, so EAGAIN before the "
                "type (or existence) is known"),
    cached_case("regular-fifo-uncached", "regular_precedence", S("fifo", O_RDONLY | R, resolve=0), refused(EFTYPE),
                needs=REGULAR, doc="control: the same refusal without RESOLVE_CACHED"),
    # ---- O_EMPTYPATH: reopening an O_PATH descriptor ------------------------------------------------------
    cached_case("emptypath-reopen", "emptypath", S("", O_RDONLY | E, start="warm", setup=DFD_ANY,
                same_as="{dir}/warm"), opens(SameFile(), OpenFlags(O_RDONLY)), needs=EMPTYPATH,
                uring=refused(ENOENT),
                doc="the dfd is an O_PATH descriptor of the regular file 'warm'; openat2(dfd, \"\", "
                    "O_RDONLY|O_EMPTYPATH, RESOLVE_CACHED) reopens it read-only: the walk is only the jump to the "
                    "dfd, so RESOLVE_CACHED never refuses. " + URING_EMPTY_DOC),
    cached_case("emptypath-reopen-uncached", "emptypath", S("", O_RDWR | E, resolve=0, start="warm", setup=DFD_ANY,
                same_as="{dir}/warm"), opens(SameFile(), OpenFlags(O_RDWR)), needs=EMPTYPATH,
                uring=refused(ENOENT), doc="read-write, without RESOLVE_CACHED. " + URING_EMPTY_DOC),
    cached_case("emptypath-without-flag", "emptypath", S("", O_RDONLY, start="warm", setup=DFD_ANY),
                refused(ENOENT), needs=(OPENAT2_FEATURE,),
                doc="control: an empty path without O_EMPTYPATH is ENOENT (getname), on every kernel"),
    cached_case("emptypath-mode-000", "emptypath", S("", O_RDONLY | E, start="noperm", setup=DFD_ANY | Setup.FSID),
                refused(EACCES), needs=EMPTYPATH, uring=refused(ENOENT),
                doc="an O_PATH descriptor needs no permission, the reopen does: may_open() on the mode-000 file, "
                    "fsuid 65534, is EACCES. " + URING_EMPTY_DOC),
    cached_case("emptypath-directory", "emptypath", S("", O_RDONLY | O_DIRECTORY | E, start="sub", same_as="."),
                opens(IsDirectory(), SameFile(), OpenFlags(O_RDONLY)), needs=EMPTYPATH, uring=refused(ENOENT),
                doc="an O_PATH directory descriptor reopened with O_DIRECTORY. " + URING_EMPTY_DOC),
    cached_case("emptypath-regular-fifo", "emptypath", S("", O_RDONLY | E | R, start="fifo", setup=DFD_ANY),
                refused(EFTYPE), needs=(*EMPTYPATH, *REGULAR), uring=refused(ENOENT),
                doc="both new flags: an O_PATH descriptor of a FIFO reopened with OPENAT2_REGULAR is EFTYPE (and "
                    "never blocks for a writer). " + URING_EMPTY_DOC),
)

ROWS = (*ROWS, *NEW_FLAG_ROWS)
CASES: tuple[CachedCase, ...] = with_variants(ROWS)
