#!/bin/sh
# Fetch the previous release's kconform results for `kconform report --baseline`.  Plain POSIX sh.
#
#   ci/fetch-baseline.sh DEST
#
# Puts the baseline's results/ tree at DEST/results (the layout the gather job wrote:
# results/<slot>/<kernel>/run.json).  Where it comes from, first match:
#   KCONFORM_BASELINE_DIR   a directory holding results/ (a mounted share, an unpacked artifact, a test)
#   KCONFORM_BASELINE_REF   GitLab: the artifacts of the last successful kconform:gather job on that
#                           ref (a tag or branch) of this project, through the job-artifacts API
#                           with the job token (KCONFORM_BASELINE_JOB overrides the job name)
# With neither, there is no baseline: DEST/results is not created and the gather step says so.
# A baseline that was asked for but cannot be fetched is an error (exit 3), not a silent pass.
set -eu

dest=${1:?usage: $0 DEST}
mkdir -p "$dest"

if [ -n "${KCONFORM_BASELINE_DIR:-}" ]; then
    [ -d "$KCONFORM_BASELINE_DIR/results" ] || {
        echo "$0: KCONFORM_BASELINE_DIR=$KCONFORM_BASELINE_DIR has no results/ directory" >&2; exit 3; }
    rm -rf "$dest/results"
    cp -R "$KCONFORM_BASELINE_DIR/results" "$dest/results"
    echo "== baseline: $KCONFORM_BASELINE_DIR/results"
    exit 0
fi

if [ -n "${KCONFORM_BASELINE_REF:-}" ]; then
    : "${CI_API_V4_URL:?KCONFORM_BASELINE_REF needs GitLab's CI_API_V4_URL}"
    : "${CI_PROJECT_ID:?KCONFORM_BASELINE_REF needs GitLab's CI_PROJECT_ID}"
    job=${KCONFORM_BASELINE_JOB:-kconform:gather}
    url="$CI_API_V4_URL/projects/$CI_PROJECT_ID/jobs/artifacts/$KCONFORM_BASELINE_REF/download?job=$job"
    echo "== baseline: artifacts of $job on $KCONFORM_BASELINE_REF"
    if ! curl --fail --silent --show-error --location --header "JOB-TOKEN: ${CI_JOB_TOKEN:-}" \
            --output "$dest/baseline.zip" "$url"; then
        echo "$0: cannot download the baseline from $url" >&2
        exit 3
    fi
    (cd "$dest" && unzip -q -o baseline.zip 'results/*' && rm -f baseline.zip)
    exit 0
fi

echo "== no baseline (set KCONFORM_BASELINE_REF or KCONFORM_BASELINE_DIR): no comparison"
