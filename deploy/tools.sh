#!/usr/bin/env bash
# The tools the make targets need beyond Python 3.11+ and Node 20+, in one place.
#
#   deploy/tools.sh uv      fetch the pinned uv into .tools/uv/ (from PyPI, with pip) unless
#                           it is there already; the Makefile uses it when PATH has no uv
#   deploy/tools.sh dev     the system packages `make dev` needs
#   deploy/tools.sh images  the system packages `make images` needs (podman, mmdebstrap)
#   deploy/tools.sh test    the system packages `make test` needs (dev's and images' included)
#
# A missing package is installed with apt-get when we are root on Debian; otherwise the script
# says what to install and how, and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8

# target | Debian package | a check that passes when it is installed
PACKAGES=(
    "dev  | postgresql | command -v initdb || compgen -G '/usr/lib/postgresql/*/bin/initdb'"
    "test | chromium   | command -v chromium"
    "test | pgbouncer  | command -v pgbouncer || test -x /usr/sbin/pgbouncer"
    "test | docker-compose | command -v docker-compose"
    "test | iproute2   | command -v ip"
    "test | prometheus | command -v promtool"
    "images | podman   | command -v podman"
    "images | mmdebstrap | command -v mmdebstrap"
)

fetch_uv() {
    local uv=.tools/uv/bin/uv
    if [[ -x $uv ]] && [[ "$($uv --version 2>/dev/null)" == "uv $UV_VERSION"* ]]; then
        return
    fi
    if ! python3 -m pip --version >/dev/null 2>&1; then
        want_packages "python3-pip" "uv $UV_VERSION is fetched with pip"
    fi
    echo "tools: fetching uv $UV_VERSION into .tools/uv" >&2
    rm -rf .tools/uv
    mkdir -p .tools
    echo "*" >.tools/.gitignore
    # --target: a folder of our own, so neither root nor a PEP 668 system Python is in the way.
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --no-warn-script-location --target .tools/uv "uv==$UV_VERSION"
}

# want_packages "<package> ..." "<why>": install them as root with apt-get, else say how.
want_packages() {
    local packages=$1 why=$2
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "tools: apt-get install $packages ($why)" >&2
        apt-get update -qq
        # shellcheck disable=SC2086  # one word per package
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
    else
        echo "tools: missing $packages ($why); install with: sudo apt-get install $packages" >&2
        exit 1
    fi
}

system_packages() {
    local target=$1 missing=() line row package check
    for line in "${PACKAGES[@]}"; do
        IFS='|' read -r row package check <<<"$line"
        row=${row// /} package=${package// /}
        # test needs every row (it builds the images and runs the dev stack too).
        if [[ $row == "$target" || $target == test ]] && ! eval "$check" >/dev/null 2>&1; then
            missing+=("$package")
        fi
    done
    if ((${#missing[@]})); then
        want_packages "${missing[*]}" "needed by make $target"
    fi
}

case "${1:-}" in
uv) fetch_uv ;;
dev | images | test) system_packages "$1" ;;
*)
    echo "usage: deploy/tools.sh uv|dev|images|test" >&2
    exit 2
    ;;
esac
