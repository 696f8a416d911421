#!/bin/sh
# Run kconform in CI and always leave JUnit behind.  Plain POSIX sh.
#
#   ci/run-kconform.sh [options] [-- pytest args]
#
#   host mode (no --kernel): kconform run on the running kernel, writing
#       OUT/junit.xml, OUT/kconform.ktap and OUT/run.json
#   VM mode (one --kernel or more): kconform vm --kernel ... --out OUT, which writes
#       OUT/<kernel>/junit.xml (and a JSON record) per kernel; then the matrix
#       OUT/matrix.html and OUT/matrix.md via kconform report
#   gather mode (--gather DIR): no run; the matrix of every run under DIR (DIR/matrix.html,
#       DIR/matrix.md) and, with --baseline OLD when OLD exists, the comparison with it
#       (DIR/baseline.html, DIR/baseline.md); exits 1 only on new failures or errors
#
# options
#   --out DIR        where reports go (default: results)
#   --kernel SPEC    boot SPEC in a VM (repeatable), e.g. debian:6.1
#   --arch ARCH      VM mode only: the kernels' architecture, Debian's name (amd64, arm64; repeatable:
#                    every kernel for each; default $KCONFORM_ARCH, else the runner's own); kconform vm --arch
#   --from PATH      install kconform from PATH (a checkout, sdist or wheel; default: this checkout)
#   --venv DIR       virtual environment to create or reuse (default: .kconform-venv)
#   --no-install     use the kconform already in --venv
#   --timeout S      host mode: per-case timeout (kconform run --timeout); VM mode: kconform vm --timeout
#   --expectations F host mode only: known deviations (kconform run --expectations)
#   -j N             VM mode only: kernels booted in parallel (kconform vm -j)
#   --kcidb          also write KCIDB JSON (OUT/kcidb.json; VM mode: OUT/<kernel>/kcidb.json)
#   --kcidb-origin N the KCIDB origin (your CI system's name; default kconform)
#   --run-args OPTS  host mode: extra kconform run options as shell words, quoted as in a shell
#                    (e.g. --run-args "--family clone3 -k 'size or flags'")
#   --gather DIR     gather mode (see above); --baseline OLD: compare with OLD
#
# environment
#   KCONFORM_VENV        as --venv;  KCONFORM_INSTALL=no  as --no-install
#   KCONFORM_ARCH        as --arch (one architecture, or several separated by spaces), when no --arch
#                        is given; VM mode only (host mode ignores it: a pipeline may set it for all jobs)
#   KCONFORM_CI_FAKE=1   TEST ONLY: in VM mode, run the suite on the host instead of booting the
#                        kernel (label "standin:<spec>"), so a pipeline's fan-out and gather can be
#                        exercised without KVM.  Its results describe the host kernel, not <spec>.
#                        KCONFORM_CI_FAKE_ARGS: extra kconform run options there (e.g. --family clone3);
#                        pytest arguments after -- are not used in this mode.
#
# Exit status: 0 when every case passed (or was skipped, old-model or
# overridden), 1 when a case failed or errored, 2 on bad usage, otherwise
# kconform's own status.  If kconform dies before writing JUnit, a JUnit file
# with one <error> case (classname kconform.harness) is written instead, so
# that dashboards show the breakage rather than "no tests".
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
out=results
venv=${KCONFORM_VENV:-.kconform-venv}
src=${KCONFORM_SOURCE:-$here}
python=${PYTHON:-python3}
install=${KCONFORM_INSTALL:-yes}
kernels=
specs=
arches=
archopts=
jobs=
timeout=
expectations=
kcidb=no
origin=
gather=
baseline=
runargs=

usage() { echo "usage: $0 [--out DIR] [--kernel SPEC]... [--arch ARCH]... [--from PATH] [--venv DIR] [--no-install]" \
    "[-j N] [--timeout S] [--expectations FILE] [--kcidb] [--kcidb-origin NAME] [-- pytest args]" \
    "| --gather DIR [--baseline OLD]" >&2; exit 2; }
need() { [ $# -ge 2 ] || { echo "$0: $1 needs a value" >&2; exit 2; }; }
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

while [ $# -gt 0 ]; do
    case $1 in
        --out) need "$@"; out=$2; shift 2 ;;
        --kernel) need "$@"; kernels="$kernels --kernel $(quote "$2")"; specs="$specs $(quote "$2")"; shift 2 ;;
        --arch) need "$@"; arches="$arches $(quote "$2")"; archopts="$archopts --arch $(quote "$2")"; shift 2 ;;
        --from) need "$@"; src=$2; shift 2 ;;
        --venv) need "$@"; venv=$2; shift 2 ;;
        --no-install) install=no; shift ;;
        -j) need "$@"; jobs=$2; shift 2 ;;
        --timeout) need "$@"; timeout=$2; shift 2 ;;
        --expectations) need "$@"; expectations=$2; shift 2 ;;
        --kcidb) kcidb=yes; shift ;;
        --kcidb-origin) need "$@"; kcidb=yes; origin=$2; shift 2 ;;
        --run-args) need "$@"; runargs=$2; shift 2 ;;
        --gather) need "$@"; gather=$2; shift 2 ;;
        --baseline) need "$@"; baseline=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) usage ;;
        *) echo "$0: unknown argument $1" >&2; usage ;;
    esac
done
# what is left in "$@" goes to pytest
if [ -z "$kernels" ] && [ -n "$jobs" ]; then echo "$0: -j is for VM mode (--kernel)" >&2; exit 2; fi
if [ -z "$kernels" ] && [ -n "$arches" ]; then echo "$0: --arch is for VM mode (--kernel)" >&2; exit 2; fi
if [ -z "$arches" ]; then
    for a in ${KCONFORM_ARCH:-}; do arches="$arches $(quote "$a")"; archopts="$archopts --arch $(quote "$a")"; done
fi
if [ -n "$baseline" ] && [ -z "$gather" ]; then echo "$0: --baseline is for --gather" >&2; exit 2; fi
if [ -n "$gather" ] && [ -n "$kernels" ]; then echo "$0: --gather runs nothing: no --kernel" >&2; exit 2; fi
if [ -n "$kernels" ] && [ -n "$expectations" ]; then
    echo "$0: --expectations is for host mode; in VM mode pass -- --kc-expectations FILE" >&2; exit 2
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "== creating virtual environment $venv"
    "$python" -m venv "$venv"
fi
if [ "$install" = yes ]; then
    echo "== installing kconform from $src"
    "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$venv/bin/python" -m pip install -q "$src"
fi
kconform="$venv/bin/kconform"
[ -x "$kconform" ] || { echo "$0: no kconform in $venv (drop --no-install)" >&2; exit 2; }
PATH="$(cd "$venv/bin" && pwd):$PATH"; export PATH

if [ -n "$gather" ]; then
    [ -d "$gather" ] || { echo "$0: --gather $gather is not a directory" >&2; exit 2; }
    echo "== kconform report $gather (matrix)"
    "$kconform" report "$gather" --html "$gather/matrix.html" --markdown "$gather/matrix.md" || {
        echo "== no kconform runs under $gather" >&2; exit 3; }
    if [ -z "$baseline" ]; then
        echo "== no --baseline: not compared with a previous release"
        exit 0
    fi
    if [ ! -e "$baseline" ]; then
        echo "== no baseline at $baseline: not compared with a previous release"
        exit 0
    fi
    echo "== kconform report --baseline $baseline $gather"
    status=0
    "$kconform" report --baseline "$baseline" "$gather" --html "$gather/baseline.html" \
        --markdown "$gather/baseline.md" || status=$?
    exit "$status"
fi

mkdir -p "$out"
# reports of an earlier run in the same workspace must not be published again
find "$out" \( -name junit.xml -o -name run.json -o -name kcidb.json -o -name kconform.ktap -o -name 'matrix.*' \) \
    -type f -exec rm -f {} +
kcidb_opts=
if [ "$kcidb" = yes ]; then
    [ -z "$origin" ] || kcidb_opts=" --kcidb-origin $(quote "$origin")"
fi

# One <error> case standing in for a report that was never written.
fallback_junit() {  # path status
    mkdir -p "$(dirname "$1")"
    cat > "$1.tmp.$$" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<testsuites tests="1" failures="0" errors="1" time="0.000">
  <testsuite name="kconform harness" tests="1" failures="0" errors="1" skipped="0" time="0.000">
    <testcase classname="kconform.harness" name="run" time="0.000">
      <error type="kconform.error" message="kconform exited with status $2 before writing a JUnit report; see the job log"/>
    </testcase>
  </testsuite>
</testsuites>
EOF
    mv -f "$1.tmp.$$" "$1"   # atomically: a reader never sees half a report
    echo "== wrote placeholder $1 (kconform exited with status $2)"
}

status=0
if [ -z "$kernels" ]; then
    echo "== kconform run on $(uname -r)"
    opts=
    [ -z "$timeout" ] || opts="$opts --timeout $(quote "$timeout")"
    [ -z "$expectations" ] || opts="$opts --expectations $(quote "$expectations")"
    [ "$kcidb" = no ] || opts="$opts --kcidb $(quote "$out/kcidb.json")$kcidb_opts"
    eval "set -- $opts $runargs -- \"\$@\""
    "$kconform" run --junit "$out/junit.xml" --ktap "$out/kconform.ktap" --json "$out/run.json" "$@" \
        || status=$?
    [ -s "$out/junit.xml" ] || fallback_junit "$out/junit.xml" "$status"
elif [ "${KCONFORM_CI_FAKE:-0}" = 1 ]; then
    # TEST ONLY (see the header): the host run stands in for each kernel's VM run
    # one run per kernel and architecture, as kconform vm would boot them (an architecture names itself)
    eval "set -- $specs"
    for spec in "$@"; do
      eval "set -- ${arches:-''}"
      for arch in "$@"; do
        name=$spec${arch:+-$arch}
        dir="$out/standin-$(printf '%s' "$name" | tr -c 'A-Za-z0-9._\n-' '-')"
        mkdir -p "$dir"
        echo "== KCONFORM_CI_FAKE=1: host run on $(uname -r) standing in for $spec${arch:+ ($arch)} (test only)"
        opts=
        [ "$kcidb" = no ] || opts="--kcidb $(quote "$dir/kcidb.json")$kcidb_opts"
        eval "set -- $opts"
        # shellcheck disable=SC2086  # word-split on purpose: extra kconform run options
        "$kconform" run -q ${KCONFORM_CI_FAKE_ARGS:-} --label "standin:$name" --junit "$dir/junit.xml" --json "$dir/run.json" "$@" \
            || status=$?
        [ -s "$dir/junit.xml" ] || fallback_junit "$dir/junit.xml" "$status"
      done
    done
else
    echo "== kconform vm$kernels$archopts"
    opts=$kernels$archopts
    [ -z "$jobs" ] || opts="$opts -j $(quote "$jobs")"
    [ -z "$timeout" ] || opts="$opts --timeout $(quote "$timeout")"
    [ "$kcidb" = no ] || opts="$opts --kcidb$kcidb_opts"
    eval "set -- $opts --out \"\$out\" -- \"\$@\""
    "$kconform" vm "$@" || status=$?
    found=$(find "$out" -name junit.xml -size +0 | head -n 1)
    [ -n "$found" ] || fallback_junit "$out/harness/junit.xml" "$status"
    "$kconform" report "$out" --html "$out/matrix.html" --markdown "$out/matrix.md" \
        || echo "== no matrix (kconform report failed)"
fi

# Non-zero when any published case failed or errored, whatever kconform said.
bad=$("$venv/bin/python" - "$out" <<'EOF'
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

n = 0
for f in Path(sys.argv[1]).rglob("junit.xml"):
    try:
        root = ET.parse(f).getroot()
    except ET.ParseError:
        n += 1
        continue
    for suite in root.iter("testsuite"):
        n += int(suite.get("failures") or 0) + int(suite.get("errors") or 0)
print(n)
EOF
)
echo "== JUnit in $out: $bad failed or errored case(s); kconform exit status $status"
if [ "$status" -ne 0 ]; then
    exit "$status"
fi
[ "$bad" -eq 0 ] || exit 1
exit 0
