#!/usr/bin/env bash
# The project's own checks: build and install kconform into a fresh virtual
# environment, run the self-tests, lint and type checks, then the suite itself
# against the running kernel (as the current user, and unprivileged when root).
#
#   bash tests/check.sh            # everything
#   KCONFORM_VENV=/path bash tests/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${KCONFORM_VENV:-.venv}
# Other uids (the unprivileged stage, the namespace self-tests) must reach this checkout: a directory
# of ours on the way that others cannot search (a clone made in "mktemp -d", say) is opened for search.
if [ "$(id -u)" = 0 ]; then
    d=$(pwd)
    while :; do
        if [ "$(stat -c %u "$d")" = 0 ] && [ $(( 0$(stat -c %a "$d") & 1 )) = 0 ]; then
            chmod o+x "$d" && echo "== $d made searchable by other uids (chmod o+x)"
        fi
        [ "$d" = / ] && break
        d=$(dirname "$d")
    done
fi
out=${KCONFORM_OUT:-build/check}
mkdir -p "$out"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { apt-get install -y -q python3-venv >/dev/null && python3 -m venv "$venv"; }
fi
"$venv/bin/pip" install -q --upgrade pip >/dev/null
"$venv/bin/pip" install -q -e '.[dev,vng]'

echo "== lint and types"
"$venv/bin/ruff" check conformance cases tests native_helpers bench
"$venv/bin/mypy"

echo "== tools for the ci/ self-tests (build/tools: gitlab-ci-local, rsync, groovy; ~45 s the first time)"
eval "$(bash tests/ci-tools.sh)"

# Headless Chromium (Debian's package) renders the HTML matrix in the self-tests and SQUAD's pages in its stage.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "== chromium for the browser self-tests (apt-get install chromium)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null
fi

echo "== self-tests"
"$venv/bin/python" -m pytest tests -q -p no:cacheprovider

echo "== suite on the running kernel ($(uname -r)), serial and -n 2"
# Before/after: only what kconform could change (its sysctls, kconform-* cgroups, mounts and files in
# shared places, processes carrying this check's tag), so other work on the machine does not count.
export KCONFORM_TAG="check-$$"
# This suite's own findings on the kernels CI runs on are "overridden", never "pass" (see the file).
known=(--expectations tests/known-deviations.toml)
"$venv/bin/python" -m conformance.isolation.snapshot save "$out/state-before.json"
"$venv/bin/kconform" run -q "${known[@]}" --junit "$out/host.xml" --json "$out/host.json" --ktap "$out/host.ktap"
"$venv/bin/kconform" run -q -n 2 "${known[@]}" --junit "$out/host-n2.xml" --json "$out/host-n2.json"
"$venv/bin/python" -m conformance.isolation.snapshot save "$out/state-after.json"
unset KCONFORM_TAG
"$venv/bin/python" -m conformance.isolation.snapshot diff "$out/state-before.json" "$out/state-after.json"
"$venv/bin/python" -m conformance.report.compare "$out/host.json" "$out/host-n2.json"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    echo "== suite unprivileged (uid 65534)"
    chmod -R o+rX . && chmod o+x "$(pwd)"
    tmp=$(mktemp -d) && chmod 777 "$tmp"
    (cd "$tmp" && setpriv --reuid 65534 --regid 65534 --clear-groups \
        "$OLDPWD/$venv/bin/kconform" run -q --expectations "$OLDPWD/tests/known-deviations.toml" --junit "$tmp/unpriv.xml" --json "$tmp/unpriv.json")
    cp "$tmp/unpriv.xml" "$tmp/unpriv.json" "$out/" && rm -rf "$tmp"
fi
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    # Where QA really runs: containers.  kconform as pid 1 of its own pid namespace (docker run), and root
    # of a user namespace mapping 0 -> 100000 with its own pid namespace (the maps are written from
    # outside by tests/helpers/nsrun.py, as a container runtime does; no newuidmap needed).  Each must
    # be complete with 0 fail and 0 error.
    echo "== suite in containers: a pid namespace (kconform as pid 1), a 0->100000 user namespace with its own pid namespace"
    unshare -p -f --mount-proc "$venv/bin/kconform" run -q "${known[@]}" --json "$out/pidns.json"
    chmod -R o+rX . && chmod o+x "$(pwd)"
    mapfile -d '' -t kc < <("$venv/bin/python" -m tests.helpers.portable)
    here=$(pwd) && py=$(cd "$venv/bin" && pwd)/python && tmp=$(mktemp -d) && chmod 777 "$tmp"
    (cd "$tmp" && "$py" "$here/tests/helpers/nsrun.py" --map 0:100000:65536 -- \
        unshare -p -f --mount-proc "${kc[@]}" run -q --expectations "$here/tests/known-deviations.toml" \
        --json "$tmp/userns.json")
    cp "$tmp/userns.json" "$out/" && rm -rf "$tmp"
    "$venv/bin/python" -m conformance.report.compare --clean "$out/pidns.json" "$out/userns.json"
fi
if [ "${KCONFORM_SKIP_VM:-0}" != 1 ]; then
    echo "== suite in VMs: Debian kernels 6.1, 6.12, 7.2 and the newest 7.x"
    if ! command -v qemu-system-x86_64 >/dev/null || [ ! -x /bin/busybox ] || ! command -v ps >/dev/null \
        || ! command -v depmod >/dev/null; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -q >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                qemu-system-x86 busybox-static procps kmod >/dev/null
        else
            echo "VM stage needs qemu-system-x86 busybox-static procps kmod (as root: apt-get install ...)" >&2
            exit 1
        fi
    fi
    # Resolved from Debian's own indexes through kconform's private apt state (never /etc/apt).
    "$venv/bin/kconform" kernels fetch debian:6.1 debian:6.12 debian:7.2 debian:7
    rm -rf "$out/vm"
    "$venv/bin/kconform" vm --kernel debian:7 --kernel debian:7.2 --kernel debian:6.12 --kernel debian:6.1 -j 2 --out "$out/vm"
    "$venv/bin/python" -m conformance.report.compare --executed vhost 12 "$out"/vm/debian-6.12*/run.json
    "$venv/bin/python" -m conformance.report.compare --every-family "$out"/vm/*/run.json
    if [ "${KCONFORM_SKIP_ARM64:-0}" != 1 ]; then
        echo "== suite in an arm64 VM: the newest Debian 7.x arm64 kernel under TCG (its guest root built once)"
        need=()
        command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
        command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
        [ -e /usr/aarch64-linux-gnu/lib/crt1.o ] || need+=(libc6-dev-arm64-cross)
        command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
        if [ ${#need[@]} -gt 0 ]; then
            if [ "$(id -u)" != 0 ]; then echo "arm64 VM stage needs ${need[*]} (as root: apt-get install ...)" >&2; exit 1; fi
            apt-get update -q >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
        fi
        "$venv/bin/kconform" vm --arch arm64 --kernel debian:7 --out "$out/vm"
        "$venv/bin/python" -m conformance.report.compare --every-family "$out"/vm/*-arm64/run.json
    fi
    "$venv/bin/kconform" report "$out/vm" --html "$out/vm/matrix.html" --markdown "$out/vm/matrix.md" >/dev/null

    echo "== vng backend: clone3 on Debian 7.x booted by virtme-ng (the vng extra), verdicts equal to the QEMU backend's"
    rm -rf "$out/vng" "$out/vng-qemu"
    PATH="$(cd "$venv/bin" && pwd):$PATH" "$venv/bin/kconform" vm --backend vng --kernel debian:7 --out "$out/vng" \
        -- --family clone3
    "$venv/bin/kconform" vm --kernel debian:7 --out "$out/vng-qemu" -- --family clone3
    "$venv/bin/python" -m conformance.report.compare "$out"/vng-qemu/*/run.json "$out"/vng/*/run.json
fi

echo "== SQUAD: the host run and a VM run submitted to a real SQUAD server, read back, its build page in Chromium"
# SQUAD from PyPI in build/squad/venv, its web assets from the npm registry (checksums in the script).
if ! command -v npm >/dev/null || ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm chromium >/dev/null
    else
        echo "the SQUAD stage needs npm and chromium (as root: apt-get install npm chromium)" >&2
        exit 1
    fi
fi
vm_run=tests/data/vm-debian-6.12.json  # a stored VM record, unless this check booted one
for d in "$out"/vm/debian-6.12*/; do [ -f "$d/run.json" ] && vm_run=$d; done
"$venv/bin/python" tests/squad_stage.py --out "$out/squad" "$out/host.json" "$vm_run"
echo "== ok"
