# shellcheck shell=bash disable=SC2034  # variables here are read by the callers
# test/lib.sh - shared plumbing for test/run_tests.sh, test/demo.sh and bench/run.sh.
#
# Source it (it sets no shell options of its own), then typically:
#
#     pg_guard_install_packages [extra-debian-packages...]
#     pg_guard_prepare "$repo_root"   # temp dir, writable copy, PostgreSQL 15 install
#     pg_guard_build                   # build in the copy; PG_GUARD_BUILD_WARNINGS=n
#     pg_guard_install                 # install the extension where the servers find it
#     cd "$PG_GUARD_WORK" && pg_guard_as_user make installcheck ...
#
# or, for several PostgreSQL versions one after the other (test/run_tests.sh):
#
#     pg_guard_make_tmp
#     pg_guard_use_version 18 "$repo_root" "$PG_GUARD_TMP/pg18-src"   # then build, install, ...
#
# Invariants:
#   - Servers never run as root.  As root, every test command runs as the
#     "postgres" system user (PG_GUARD_USER) via runuser, in a copy of the
#     source tree that user owns.  As an ordinary user, commands run directly.
#   - As root the extension is installed into the system PostgreSQL 15
#     (/usr/lib/postgresql/15, /usr/share/postgresql/15), or into the cached
#     source build of PostgreSQL 18 (test/pg_build.sh).  An ordinary user
#     cannot write there, so a private relocatable copy of that installation
#     is made in the temp dir; its real pg_config/postgres binaries compute
#     every path relative to their own location, so the copy finds the
#     extension installed into it.
#   - Everything lives under one temp dir (PG_GUARD_TMP); servers listen on
#     unix sockets inside it.  pg_guard_cleanup stops only postmasters whose
#     postmaster.pid lies inside that dir, then deletes it.

PG_GUARD_PGVERSION=${PG_GUARD_PGVERSION:-15}
PG_GUARD_USER=${PG_GUARD_USER:-postgres}
PG_GUARD_SYSTEM_BINDIR=/usr/lib/postgresql/$PG_GUARD_PGVERSION/bin
PG_GUARD_TMP=${PG_GUARD_TMP:-}
PG_GUARD_BASE_PATH=${PG_GUARD_BASE_PATH:-$PATH} # PATH before any PostgreSQL bindir
# shellcheck source=test/pg_build.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg_build.sh"

# Progress messages go to stderr so stdout stays parseable.
pg_guard_log() { printf '==> %s\n' "$*" >&2; }

# Same environment for every run: English messages (pg_regress also forces
# LC_MESSAGES=C), UTF-8 databases, no stray connection settings.
export LANG=C.UTF-8
unset LC_ALL LC_COLLATE LC_CTYPE LC_MESSAGES
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGSERVICE PGOPTIONS PGDATA PGPASSWORD

# pg_guard_install_packages [extra...]: make sure the Debian packages needed to
# build and test are present.  Root installs what is missing with one
# apt-get call; an ordinary user is told the command to run.
pg_guard_install_packages() {
	local pkgs=("postgresql-$PG_GUARD_PGVERSION" "postgresql-server-dev-$PG_GUARD_PGVERSION"
		libipc-run-perl make gcc "$@")
	local missing=() p
	if ! command -v dpkg-query >/dev/null; then
		pg_guard_log "no dpkg-query: cannot check packages, assuming ${pkgs[*]} are installed"
		return 0
	fi
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0

	local cmd=(apt-get install -y --no-install-recommends "${pkgs[@]}")
	if [[ $EUID -ne 0 ]]; then
		echo "missing packages: ${missing[*]}" >&2
		echo "install them as root with:" >&2
		echo "  apt-get update && DEBIAN_FRONTEND=noninteractive ${cmd[*]}" >&2
		exit 1
	fi
	pg_guard_log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Packages such as etcd-server start a system service on install; the
	# tests start their own.  Without a policy-rc.d of the system's, one
	# answering 101 ("action forbidden") is in place for this install only.
	local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# primary_guard test/lib.sh: no service starts during this install\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		own_policy=1
	fi
	# Refresh the package lists only when they are empty or the install fails.
	if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
		apt-get update || true
	fi
	if ! "${cmd[@]}"; then
		apt-get update && "${cmd[@]}" || rc=$?
	fi
	[[ $own_policy -eq 0 ]] || rm -f "$policy"
	return "$rc"
}

# pg_guard_use_installed_pg: for scripts also run by hand outside the
# runner: the runner's PG_CONFIG if set, else the system PostgreSQL's, with
# its bin directory first on PATH.
pg_guard_use_installed_pg() {
	PG_CONFIG=${PG_CONFIG:-$PG_GUARD_SYSTEM_BINDIR/pg_config}
	PATH=$("$PG_CONFIG" --bindir):$PATH
	export PG_CONFIG PATH
}

# pg_guard_as_user cmd...: run cmd in the current directory as the test user
# (postgres when we are root, ourselves otherwise), with our PATH and PG_CONFIG.
pg_guard_as_user() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u "$PG_GUARD_USER" -- env PATH="$PATH" PG_CONFIG="$PG_CONFIG" \
			LANG="$LANG" TMPDIR="${TMPDIR:-/tmp}" "$@"
	else
		"$@"
	fi
}

# pg_guard_prepare SRC: create PG_GUARD_TMP, copy the source tree SRC (minus
# .git and build/test output) to PG_GUARD_WORK ($PG_GUARD_TMP/src), and choose
# the PostgreSQL $PG_GUARD_PGVERSION installation: the system one as root, a
# private copy otherwise.  Exports PG_CONFIG, PG_GUARD_BINDIR and PATH
# (bindir first).  Registers pg_guard_cleanup as the EXIT trap unless
# PG_GUARD_KEEP=1.
pg_guard_prepare() {
	pg_guard_make_tmp
	pg_guard_use_version "$PG_GUARD_PGVERSION" "$1" "$PG_GUARD_TMP/src"
}

# pg_guard_make_tmp: create PG_GUARD_TMP (TMPDIR points into it) and the
# cleanup traps.
pg_guard_make_tmp() {
	PG_GUARD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/primary_guard.XXXXXX")
	export TMPDIR=$PG_GUARD_TMP # temp files of tests (TAP sockets too) stay inside
	[[ ${PG_GUARD_KEEP:-0} == 1 ]] || trap pg_guard_cleanup EXIT
	trap 'exit 130' INT TERM
	export PG_GUARD_TMP
}

# pg_guard_use_version V SRC WORK: copy SRC to WORK (PG_GUARD_WORK) and
# choose the installation of PostgreSQL V: 15 (or any Debian package
# version) from /usr/lib/postgresql/V, 18 from the cached source build
# (built first if needed, test/pg_build.sh); as root the installation
# itself, otherwise a private copy under PG_GUARD_TMP.  Sets PG_CONFIG,
# PG_GUARD_BINDIR, PG_GUARD_PGVERSION, PG_GUARD_BUILD_LOG and PATH (this
# version's bindir first, no other version's).  Returns non-zero if that
# PostgreSQL cannot be had.
pg_guard_use_version() {
	local v=$1 src=$2 work=$3
	PG_GUARD_PGVERSION=$v
	PG_GUARD_WORK=$work
	PG_GUARD_BUILD_LOG=$PG_GUARD_TMP/build-pg$v.log
	mkdir -p "$PG_GUARD_WORK"
	tar -C "$src" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude='./tmp_check*' --exclude=./results --exclude=./output_iso \
		--exclude='./regression.*' --exclude=./log -cf - . | tar -C "$PG_GUARD_WORK" -xf -

	if [[ $v == 18 ]]; then
		pg_guard_pg18_ensure || return 1
		if [[ $EUID -eq 0 ]]; then
			PG_CONFIG=$PG_GUARD_PG18_PREFIX/bin/pg_config
		else
			pg_guard_private_copy "$PG_GUARD_PG18_PREFIX" "$PG_GUARD_TMP/install-pg$v" || return 1
		fi
	elif [[ $EUID -eq 0 ]]; then
		PG_CONFIG=/usr/lib/postgresql/$v/bin/pg_config
	else
		pg_guard_private_install || return 1
	fi
	[[ -x $PG_CONFIG ]] || { echo "no PostgreSQL $v: $PG_CONFIG missing" >&2; return 1; }
	PG_GUARD_BINDIR=$("$PG_CONFIG" --bindir)
	PATH=$PG_GUARD_BINDIR:$PG_GUARD_BASE_PATH
	export PG_CONFIG PG_GUARD_BINDIR PG_GUARD_TMP PG_GUARD_WORK PG_GUARD_PGVERSION PATH
	pg_guard_log "PostgreSQL $v: work dir $PG_GUARD_WORK, pg_config $PG_CONFIG"
}

# pg_guard_check_relocated ROOT: PG_CONFIG must report every path under ROOT.
pg_guard_check_relocated() {
	local d
	for d in --bindir --pkglibdir --sharedir --pgxs; do
		case $("$PG_CONFIG" "$d") in
		"$1"/*) ;;
		*) echo "pg_config $d of the private copy is outside $1" >&2; return 1 ;;
		esac
	done
}

# pg_guard_private_copy PREFIX DEST: copy a source-built installation
# (everything under one prefix, relocatable) to DEST; PG_CONFIG is its copy.
pg_guard_private_copy() {
	cp -a "$1" "$2" || return 1
	PG_CONFIG=$2/bin/pg_config
	pg_guard_check_relocated "$2" || return 1
	pg_guard_log "private PostgreSQL copy of $1 in $2"
}

# pg_guard_private_install: copy /usr/lib/postgresql/15 and
# /usr/share/postgresql/15 (real files: postgres resolves paths from its own
# executable, a symlink would lead it back to /usr) to $PG_GUARD_TMP/pg/usr/...
# and link the read-only headers.  The copied pg_config then reports
# $PG_GUARD_TMP/pg/usr/... for bindir, pkglibdir, sharedir, pgxs and the
# include dirs, so building, installing and testing all use the copy.
pg_guard_private_install() {
	local root=$PG_GUARD_TMP/pg
	local v=$PG_GUARD_PGVERSION
	mkdir -p "$root/usr/lib/postgresql" "$root/usr/share/postgresql" "$root/usr/include"
	cp -a "/usr/lib/postgresql/$v" "$root/usr/lib/postgresql/"
	cp -a "/usr/share/postgresql/$v" "$root/usr/share/postgresql/"
	ln -s /usr/include/postgresql "$root/usr/include/postgresql"
	PG_CONFIG=$root/usr/lib/postgresql/$v/bin/pg_config
	# Refuse a copy that still points at the system installation.
	pg_guard_check_relocated "$root" || return 1
	pg_guard_log "private PostgreSQL $v installation in $root"
}

# pg_guard_build: compile in PG_GUARD_WORK (as the invoking user; the tree is
# handed to the test user afterwards).  Output is shown and kept in
# PG_GUARD_BUILD_LOG ($PG_GUARD_TMP/build-pgV.log); PG_GUARD_BUILD_WARNINGS
# is the number of "warning:" lines.  Returns make's status.
pg_guard_build() {
	local rc=0
	local log=$PG_GUARD_BUILD_LOG
	make -C "$PG_GUARD_WORK" -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$PG_CONFIG" \
		2>&1 | tee "$log" || rc=$?
	PG_GUARD_BUILD_WARNINGS=$(grep -c 'warning:' "$log" || true)
	return "$rc"
}

# pg_guard_install: install the built extension into the chosen installation,
# then give the whole temp dir to the test user (root only).
pg_guard_install() {
	make -C "$PG_GUARD_WORK" -s install PG_CONFIG="$PG_CONFIG" >&2
	if [[ $EUID -eq 0 ]]; then
		chown -R "$PG_GUARD_USER:" "$PG_GUARD_TMP"
	fi
}

# pg_guard_start_server DATADIR [conf line...]: initdb and start a server
# (as the test user) listening only on a unix socket in DATADIR, with the
# extension preloaded.  Sets PGHOST/PGPORT for psql.  For demo/bench/suites.
pg_guard_start_server() {
	local data=$1
	shift
	pg_guard_as_user initdb -D "$data" -A trust -U postgres >/dev/null
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$data'"
		echo "shared_preload_libraries = 'primary_guard'"
		local line
		for line in "$@"; do echo "$line"; done
	} >>"$data/postgresql.conf"
	pg_guard_as_user pg_ctl -D "$data" -l "$data/server.log" -w start >/dev/null
	export PGHOST=$data PGPORT=5432 PGUSER=postgres
}

# pg_guard_stop_server DATADIR: stop the server of DATADIR (by its own
# postmaster.pid, via pg_ctl), if it is running.
pg_guard_stop_server() {
	[[ -f $1/postmaster.pid ]] || return 0
	pg_guard_as_user pg_ctl -D "$1" -m fast -w stop >/dev/null 2>&1 ||
		pg_guard_as_user pg_ctl -D "$1" -m immediate -w stop >/dev/null 2>&1 || true
}

# pg_guard_cleanup: EXIT trap.  Stop every server left running inside the
# temp dir (found by postmaster.pid; nothing else is touched), delete the dir.
# Silent, so the caller's last line stays last.
pg_guard_cleanup() {
	[[ -n $PG_GUARD_TMP && -d $PG_GUARD_TMP ]] || return 0
	local pidfile
	while IFS= read -r pidfile; do
		pg_guard_stop_server "$(dirname "$pidfile")"
	done < <(find "$PG_GUARD_TMP" -name postmaster.pid 2>/dev/null)
	rm -rf "$PG_GUARD_TMP" 2>/dev/null || true
}
