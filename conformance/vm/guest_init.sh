#!/bin/sh
# kconform guest /init (busybox).  The host's root is mounted read-only over
# virtio-9p with a tmpfs overlay on top (the guest's writes are thrown away),
# the result directory is a second, writable 9p share at the same path as on
# the host, and the command to run is $OUT/run.sh.  Settings come from kc.*
# words on the kernel command line.  Markers "KC[uptime] ..." on the console
# let the host follow the boot.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
t() { read up _ < /proc/uptime; echo "KC[$up] $*"; }
t init-start
load() { for m in $(cat /mods/$1.order); do insmod /mods/$m 2>/dev/null || t "insmod $m failed"; done; }
load root
# The other groups share no module with each other: load them while the root is mounted.
load disk & DISKJOB=$!
MS=512000; CACHE=loose; OUT=/kc-out; PANIC=0; DISK=0; PYC=
for w in $(cat /proc/cmdline); do case $w in
  kc.msize=*) MS=${w#*=};; kc.cache=*) CACHE=${w#*=};; kc.out=*) OUT=${w#*=};; kc.panic=*) PANIC=${w#*=};; kc.disk=*) DISK=${w#*=};;
  kc.pyc=*) PYC=${w#*=};;
esac; done
O9="trans=virtio,version=9p2000.L,msize=$MS"
mount -t 9p -o $O9,cache=$CACHE,ro hostroot /lower || t "mount hostroot failed"
R=/newroot
mount -t tmpfs -o mode=755 tmpfs /upper && mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w $R || {
  t "overlay failed, using the read-only root"; mount --bind /lower $R; }
# Bytecode compiled on the host (conformance/vm/pycache.py): into the overlay, each file in the
# __pycache__ next to its source, while the rest is mounted.
PYCJOB=
if [ -n "$PYC" ]; then
  (cd $R && cpio -i -d -u < /lower$PYC 2>/dev/null || t "pycache $PYC not unpacked") & PYCJOB=$!
fi
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm 2>/dev/null
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup
# /tmp stays the host's (read-only lower, writes land in the overlay): the installation
# under test may live there (a CI checkout in /tmp, say).
mount -t tmpfs tmpfs $R/run
# The vhost group loads in stage 2, in the background, while the suite's Python starts
# (seconds under TCG); the flag file makes kconform's vhost probes wait for it.
mkdir -p $R/run/kc/mods && : > $R/run/kc/modules-pending
# A named cgroup v1 hierarchy (no controller bound): the guest mounts no other, and clone3's
# into-cgroup-v1-dir case needs a v1 directory to hand CLONE_INTO_CGROUP.
mkdir -p $R/run/kc/cgroup-v1 && mount -t cgroup -o none,name=kconform cgroup $R/run/kc/cgroup-v1 || t "cgroup v1 not mounted"
# The guest marker: this boot's id in the guest's own /run, so machine-wide changes that only a
# throw-away machine may take (core_pattern) know where they run (conformance/isolation/globalstate.py).
cat /proc/sys/kernel/random/boot_id > $R/run/kc/guest
for m in $(cat /mods/vhost.order); do cp /mods/$m $R/run/kc/mods/; done
cp /mods/vhost.order $R/run/kc/mods/order
mount -t 9p -o $O9,cache=none kcout /kc || t "mount kcout failed"
mkdir -p $R$OUT 2>/dev/null; mount --bind /kc $R$OUT || t "bind $OUT failed"
wait $DISKJOB
t modules-loaded
[ -n "$PYCJOB" ] && wait $PYCJOB && t pycache-unpacked
# Scratch disk (kc.disk=1): an ext4 image made on the host, used as TMPDIR.
SCRATCH=
if [ "$DISK" = 1 ] && [ -b /dev/vda ]; then
  mkdir -p $R/var/tmp/kconform-disk
  if mount -t ext4 -o rw,relatime /dev/vda $R/var/tmp/kconform-disk; then
    chmod 1777 $R/var/tmp/kconform-disk; SCRATCH=/var/tmp/kconform-disk
  else
    t "mount scratch disk failed"
  fi
fi
if [ "$PANIC" = 1 ]; then
  t "panic requested (kc.panic=1)"
  echo 1 > /proc/sys/kernel/sysrq
  echo c > /proc/sysrq-trigger
fi
# Stage 2 runs in the new root after switch_root (not chroot: a chrooted
# process may not create user namespaces, and the suite checks that).
cp /bin/busybox $R/run/kc/busybox
cat > $R/run/kc/stage2.sh <<STAGE2
#!/run/kc/busybox sh
t() { read up _ < /proc/uptime; echo "KC[\$up] \$*"; }
(for m in \$(/run/kc/busybox cat /run/kc/mods/order); do
   /run/kc/busybox insmod /run/kc/mods/\$m 2>/dev/null || t "insmod \$m failed"
 done; /run/kc/busybox rm -rf /run/kc/mods /run/kc/modules-pending) &
t cmd-start
${SCRATCH:+export TMPDIR=$SCRATCH}
export KCONFORM_MODULES_PENDING=/run/kc/modules-pending
/bin/sh $OUT/run.sh
rc=\$?
t "cmd-end rc=\$rc"
echo \$rc > $OUT/exitcode
/run/kc/busybox sync
/run/kc/busybox poweroff -f
STAGE2
exec switch_root $R /run/kc/busybox sh /run/kc/stage2.sh
