#!/usr/bin/env bash
# packaging/deb.sh [OUTDIR]: what `make deb` runs.
#
# Builds the Debian package(s) postgresql-NN-primary-guard (one per
# PostgreSQL version of debian/pgversions that the machine supports; 15 on
# Debian 12) with `dpkg-buildpackage -us -uc -b`, in a temporary copy of the
# source tree, so the checkout is not touched; copies the .deb files (and
# the -dbgsym ones) to OUTDIR (default dist/) and prints their paths.
# dpkg-buildpackage runs the regress and isolation suites against the
# built files (debian/rules, override_dh_pgxs_test);
# DEB_BUILD_OPTIONS=nocheck skips them.
#
# As root it first installs what the build needs from Debian (dpkg-dev,
# build-essential, debhelper, postgresql-server-dev-all, postgresql-NN for
# the build-time tests); an ordinary user is told the apt-get command.
# If lintian is installed, it checks the result and any error fails the
# build (LINTIAN=no skips it).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-dist}
[[ $out == /* ]] || out=$PWD/$out
LINTIAN=${LINTIAN:-yes}

log() { printf '==> %s\n' "$*" >&2; }

# Build dependencies: Build-Depends of debian/control plus the toolchain
# and the servers the build-time tests start.
pgversions=$(cd "$repo" && { pg_buildext supported-versions 2>/dev/null || true; })
deps=(dpkg-dev build-essential debhelper postgresql-server-dev-all)
for v in ${pgversions:-15}; do deps+=("postgresql-$v"); done
missing=()
for p in "${deps[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
	cmd=(apt-get install -y --no-install-recommends "${deps[@]}")
	if [[ $EUID -ne 0 ]]; then
		echo "missing packages: ${missing[*]}" >&2
		echo "install them as root with:" >&2
		echo "  apt-get update && DEBIAN_FRONTEND=noninteractive ${cmd[*]}" >&2
		exit 1
	fi
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	"${cmd[@]}" || { apt-get update && "${cmd[@]}"; }
	pgversions=$(cd "$repo" && pg_buildext supported-versions)
fi

# dpkg-buildpackage writes its results next to the source directory:
# both live in a temp dir.  The build-time tests' server runs as postgres
# and reads the built files there, hence a+rx.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/primary_guard_deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
version=$(dpkg-parsechangelog -l "$repo/debian/changelog" -S Version)
src=$tmp/primary-guard-${version%-*}
mkdir "$src"
tar -C "$repo" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude='./tmp_check*' --exclude=./results --exclude=./output_iso \
	--exclude='./regression.*' --exclude=./log --exclude=./dist -cf - . | tar -C "$src" -xf -
chmod -R a+rX "$src"

log "dpkg-buildpackage -us -uc -b (primary-guard $version, PostgreSQL ${pgversions//$'\n'/ })"
(cd "$src" && dpkg-buildpackage -us -uc -b)

shopt -s nullglob
debs=("$tmp"/*.deb)
if [[ ${#debs[@]} -eq 0 ]]; then
	echo "dpkg-buildpackage made no .deb" >&2
	exit 1
fi
if [[ $LINTIAN != no ]] && command -v lintian >/dev/null; then
	log "lintian"
	lintian --fail-on error "${debs[@]}"
fi
mkdir -p "$out"
cp "${debs[@]}" "$out/"
for d in "${debs[@]}"; do echo "$out/$(basename "$d")"; done
