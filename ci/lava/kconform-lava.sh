#!/bin/sh
# Run kconform in a LAVA test and report every case with lava-test-case.  Plain POSIX sh.
#
#   ci/lava/kconform-lava.sh [--out DIR] [--kcidb-origin NAME] [-- kconform run options]
#
# Installs and runs kconform through ci/run-kconform.sh (host mode: DIR/junit.xml, run.json,
# kconform.ktap, kcidb.json), then calls `lava-test-case <behaviour>.<case> --result R
# --measurement S --units seconds` once per case.  Outside LAVA (no lava-test-case on PATH) it
# prints LAVA's test-case signal lines instead.  One more test case, kconform-run, says whether
# kconform itself ran: fail when it could not run or left no results, so a broken run never
# looks like an empty pass.  The script's own exit status is 0 when it reported results: LAVA
# takes the verdicts from the test cases.
set -u

here=$(cd "$(dirname "$0")/../.." && pwd)
out=output
origin=kconform
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=${2:?--out needs a value}; shift 2 ;;
        --kcidb-origin) origin=${2:?--kcidb-origin needs a value}; shift 2 ;;
        --) shift; break ;;
        *) echo "$0: unknown argument $1" >&2; exit 2 ;;
    esac
done
venv=${KCONFORM_VENV:-$here/.kconform-venv}
export KCONFORM_VENV="$venv"

report() {  # name result [seconds]
    if command -v lava-test-case >/dev/null 2>&1; then
        if [ -n "${3:-}" ]; then
            lava-test-case "$1" --result "$2" --measurement "$3" --units seconds
        else
            lava-test-case "$1" --result "$2"
        fi
    else
        printf '<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=%s RESULT=%s%s>\n' "$1" "$2" \
            "${3:+ UNITS=seconds MEASUREMENT=$3}"
    fi
}

quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
runargs=
for a in "$@"; do runargs="$runargs $(quote "$a")"; done  # kconform run options, each kept whole

status=0
"$here/ci/run-kconform.sh" --out "$out" --kcidb --kcidb-origin "$origin" --run-args "$runargs" || status=$?
echo "== kconform exit status $status"

lines="$out/lava-results.txt"
if [ ! -s "$out/run.json" ] || ! "$venv/bin/python" -m conformance.report.lava "$out/run.json" > "$lines"; then
    report kconform-run fail
    exit 0
fi
while read -r name result seconds; do
    report "$name" "$result" "$seconds"
done < "$lines"
# 0 (all passed or skipped) and 1 (some case failed: reported above) are results; anything else is not
if [ "$status" -le 1 ]; then report kconform-run pass; else report kconform-run fail; fi
exit 0
