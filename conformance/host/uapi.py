"""Constants from the kernel's uapi headers, shared by the families and probes."""

from __future__ import annotations

# include/uapi/linux/sched.h
CSIGNAL = 0xFF
CLONE_NEWTIME = 0x80
CLONE_VM = 0x100
CLONE_FS = 0x200
CLONE_FILES = 0x400
CLONE_SIGHAND = 0x800
CLONE_PIDFD = 0x1000
CLONE_PTRACE = 0x2000
CLONE_VFORK = 0x4000
CLONE_PARENT = 0x8000
CLONE_THREAD = 0x10000
CLONE_NEWNS = 0x20000
CLONE_SYSVSEM = 0x40000
CLONE_SETTLS = 0x80000
CLONE_PARENT_SETTID = 0x100000
CLONE_CHILD_CLEARTID = 0x200000
CLONE_DETACHED = 0x400000
CLONE_UNTRACED = 0x800000
CLONE_CHILD_SETTID = 0x1000000
CLONE_NEWCGROUP = 0x2000000
CLONE_NEWUTS = 0x4000000
CLONE_NEWIPC = 0x8000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_IO = 0x80000000
CLONE_CLEAR_SIGHAND = 1 << 32
CLONE_INTO_CGROUP = 1 << 33
CLONE_AUTOREAP = 1 << 34
CLONE_NNP = 1 << 35
CLONE_PIDFD_AUTOKILL = 1 << 36
CLONE_EMPTY_MNTNS = 1 << 37


# include/linux/sched.h: task flags (field 9 of /proc/<pid>/stat)
PF_IO_WORKER = 0x00000010
PF_USER_WORKER = 0x00004000
PF_KTHREAD = 0x00200000


# include/uapi/linux/ptrace.h
PTRACE_ATTACH = 16
PTRACE_SEIZE = 0x4206

# include/uapi/linux/fcntl.h
AT_FDCWD = -100

# include/uapi/linux/openat2.h: struct open_how and its resolve flags
OPEN_HOW_SIZE_VER0 = 24
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = 0x20  # 5.12
OPENAT2_REGULAR = 1 << 32  # 7.2: open_how.flags only

# include/uapi/asm-generic/fcntl.h
O_EMPTYPATH = 1 << 26  # 7.2

# include/uapi/asm-generic/errno.h
EFTYPE = 134  # 7.2: wrong file type for the intended operation

# include/linux/fcntl.h (kernel-internal): __O_REGULAR, the kernel's carrier of OPENAT2_REGULAR in the open
# flags (7.2); never visible in F_GETFL
O_REGULAR_INTERNAL = 1 << 30

# include/linux/errno.h (kernel-internal): a restart code that must never reach userspace
ERESTARTSYS = 512

# include/uapi/linux/magic.h: statfs f_type
EXT4_SUPER_MAGIC = 0xEF53  # ext2, ext3 and ext4
XFS_SUPER_MAGIC = 0x58465342
BTRFS_SUPER_MAGIC = 0x9123683E
F2FS_SUPER_MAGIC = 0xF2F52010
TMPFS_MAGIC = 0x01021994
RAMFS_MAGIC = 0x858458F6
PROC_SUPER_MAGIC = 0x9FA0
OVERLAYFS_SUPER_MAGIC = 0x794C7630
NFS_SUPER_MAGIC = 0x6969
FUSE_SUPER_MAGIC = 0x65735546
V9FS_MAGIC = 0x01021997
CIFS_SUPER_MAGIC = 0xFF534D42
SMB2_SUPER_MAGIC = 0xFE534D42
CEPH_SUPER_MAGIC = 0x00C36400

# include/uapi/linux/pidfd.h: PIDFD_GET_INFO request and result mask bits (struct pidfd_info.mask)
PIDFD_INFO_PID = 1 << 0
PIDFD_INFO_CREDS = 1 << 1
PIDFD_INFO_CGROUPID = 1 << 2
PIDFD_INFO_EXIT = 1 << 3
PIDFD_INFO_COREDUMP = 1 << 4
PIDFD_INFO_SUPPORTED_MASK = 1 << 5
PIDFD_INFO_COREDUMP_SIGNAL = 1 << 6
PIDFD_INFO_COREDUMP_CODE = 1 << 7

# include/uapi/linux/pidfd.h: pidfd_send_signal() scope flags
PIDFD_SIGNAL_THREAD = 1 << 0
PIDFD_SIGNAL_THREAD_GROUP = 1 << 1
PIDFD_SIGNAL_PROCESS_GROUP = 1 << 2

# include/uapi/linux/pidfd.h: struct pidfd_info.coredump_mask
PIDFD_COREDUMPED = 1 << 0
PIDFD_COREDUMP_SKIP = 1 << 1
PIDFD_COREDUMP_USER = 1 << 2

# include/uapi/linux/coredump.h: struct coredump_req/coredump_ack mask bits and enum coredump_mark
COREDUMP_KERNEL = 1 << 0
COREDUMP_USERSPACE = 1 << 1
COREDUMP_REJECT = 1 << 2
COREDUMP_WAIT = 1 << 3
COREDUMP_MARK_REQACK = 0
COREDUMP_MARK_MINSIZE = 1
COREDUMP_MARK_MAXSIZE = 2
COREDUMP_MARK_UNSUPPORTED = 3
COREDUMP_MARK_CONFLICTING = 4

# include/uapi/linux/magic.h
ANON_INODE_FS_MAGIC = 0x09041934
PID_FS_MAGIC = 0x50494446

# include/uapi/asm-generic/siginfo.h: si_code values (the signal module has none)
SI_USER = 0
SI_QUEUE = -1
SI_TKILL = -6
SEGV_MAPERR = 1

# the core flag of a wait status (kernel/exit.c reports a dump as 0x80 in the low byte; glibc's WCOREFLAG)
WCOREFLAG = 0x80
