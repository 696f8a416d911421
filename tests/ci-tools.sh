#!/usr/bin/env bash
# Tools the ci/ self-tests (tests/test_ci.py) run, installed under build/tools only (nothing
# system-wide), and printed as environment settings for the test run:
#
#   eval "$(bash tests/ci-tools.sh)"
#
#   gitlab-ci-local 4.64.1 (npm)    runs ci/gitlab-ci.yml locally; later releases need Node 22
#   rsync (Debian, unpacked)        gitlab-ci-local copies the project with it
#   groovy-all.jar (Debian groovy)  parses ci/Jenkinsfile (needs java)
#
# A tool that cannot be had (no npm, no network, no apt lists) is left out with a note on stderr;
# its test then skips and says why.
set -uo pipefail
cd "$(dirname "$0")/.."
tools=$PWD/build/tools
mkdir -p "$tools"
note() { echo "ci-tools: $*" >&2; }

gcl=$tools/gcl/node_modules/.bin/gitlab-ci-local
if [ ! -x "$gcl" ]; then
    if command -v npm >/dev/null; then
        npm install --silent --no-audit --no-fund --prefix "$tools/gcl" gitlab-ci-local@4.64.1 >/dev/null 2>&1 \
            || note "npm install gitlab-ci-local failed"
    else
        note "no npm: gitlab-ci-local is not installed"
    fi
fi
[ -x "$gcl" ] && echo "export KCONFORM_GITLAB_CI_LOCAL=$gcl"

# Debian packages, unpacked (apt-get download needs the package lists: apt-get update)
debs=$tools/debs
updated=no
download() {  # package
    (cd "$debs" && apt-get download -q "$1" >/dev/null 2>&1) && return 0
    if [ "$updated" = no ] && [ "$(id -u)" = 0 ]; then  # a fresh machine may have no package lists
        updated=yes
        apt-get update -q >/dev/null 2>&1 && (cd "$debs" && apt-get download -q "$1" >/dev/null 2>&1) && return 0
    fi
    note "apt-get download $1 failed"
    return 1
}
unpack() {  # package...
    mkdir -p "$debs"
    for p in "$@"; do
        ls "$debs/${p}"_*.deb >/dev/null 2>&1 && continue
        download "$p" || return 1
    done
    for p in "$@"; do dpkg -x "$(ls "$debs/${p}"_*.deb | head -n 1)" "$tools/root"; done
}

if command -v rsync >/dev/null; then
    :
elif [ -x "$tools/bin/rsync" ] || unpack rsync libpopt0; then
    mkdir -p "$tools/bin"
    cat > "$tools/bin/rsync" <<EOF
#!/bin/sh
LD_LIBRARY_PATH="$tools/root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$tools/root/usr/bin/rsync" "\$@"
EOF
    chmod +x "$tools/bin/rsync"
    echo "export PATH=$tools/bin:\$PATH"
fi

jar=$tools/root/usr/share/java/groovy-all.jar
if command -v java >/dev/null; then
    [ -e "$jar" ] || unpack groovy
    [ -e "$jar" ] && echo "export KCONFORM_GROOVY_JAR=$jar"
else
    note "no java: the Jenkinsfile is not parsed"
fi
exit 0
