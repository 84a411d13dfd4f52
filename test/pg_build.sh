# shellcheck shell=bash disable=SC2034  # variables here are read by the callers
# test/pg_build.sh - PostgreSQL 18 built from source, once per machine.
#
# Sourced by test/lib.sh.  Debian 12 ships only PostgreSQL 15; 18 is built
# from the upstream tarball that ../shared/postgresql/ holds (Debian's
# postgresql-18_18.6.orig.tar.bz2, read-only: it is unpacked elsewhere) and
# cached OUTSIDE the clone:
#
#   root            /var/cache/primary_guard/pg18
#   ordinary user   ${XDG_CACHE_HOME:-$HOME/.cache}/primary_guard/pg18
#                   (or root's cache, read-only, when that one is complete)
#   PG_GUARD_PG18_CACHE=dir overrides both.
#
# The build: configure --prefix=<cache> --without-icu --without-readline
# --without-zlib --enable-tap-tests; make -j3; make install; contrib; the TAP
# modules (src/test/perl) and the isolation tester, where PGXS looks for
# them (lib/postgresql/pgxs/src/test/...); and PostgreSQL's own regression
# suite (src/test/regress: sql, expected, data, parallel_schedule,
# resultmap, regress.so) as <cache>/regress for
# test/suites/pg_regress_guarded.sh.
#
# Complete means: <cache>/.primary_guard-build-stamp exists and names the
# tarball's sha256 and the configure options.  It is written last, after a
# successful install into a staging directory (make install DESTDIR=...),
# which then replaces the cache in one rename; an interrupted build leaves
# the old cache (or none) and no stamp, and the next run builds again.  A
# lock file (flock) keeps two concurrent runs from building at once.  The
# build takes about 3-4 minutes on 2 cores; its log is
# <cache>.build.log.
#
# Needs: gcc, make, perl with IPC::Run (libipc-run-perl), bzip2, bison,
# flex.  Root installs bison/flex/bzip2 if missing (test/lib.sh installs the
# rest); an ordinary user is told the apt-get command.

PG_GUARD_PG18_TARBALL_NAME=postgresql-18_18.6.orig.tar.bz2
PG_GUARD_PG18_CONFIGURE_OPTS=(--without-icu --without-readline --without-zlib --enable-tap-tests)
PG_GUARD_PG18_STAMP=.primary_guard-build-stamp

# pg_guard_pg18_tarball: print the path of the source tarball.
# PG_GUARD_PG18_TARBALL, else ../shared/postgresql/ next to the clone, else
# /work/shared/postgresql/.
pg_guard_pg18_tarball() {
	local repo c
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	for c in ${PG_GUARD_PG18_TARBALL:+"$PG_GUARD_PG18_TARBALL"} \
		"$repo/../shared/postgresql/$PG_GUARD_PG18_TARBALL_NAME" \
		"/work/shared/postgresql/$PG_GUARD_PG18_TARBALL_NAME"; do
		if [[ -r $c ]]; then
			echo "$c"
			return 0
		fi
	done
	echo "PostgreSQL 18 source not found: set PG_GUARD_PG18_TARBALL to $PG_GUARD_PG18_TARBALL_NAME" >&2
	return 1
}

# pg_guard_pg18_stamp_text TARBALL: what a complete cache's stamp says.
pg_guard_pg18_stamp_text() {
	local sum
	sum=$(sha256sum "$1" | cut -d' ' -f1) || return 1
	printf 'tarball-sha256=%s\nconfigure=%s\n' "$sum" "${PG_GUARD_PG18_CONFIGURE_OPTS[*]}"
}

# pg_guard_pg18_complete PREFIX STAMP_TEXT: true if PREFIX holds a complete build.
pg_guard_pg18_complete() {
	[[ -f $1/$PG_GUARD_PG18_STAMP && -x $1/bin/pg_config ]] &&
		[[ $(cat "$1/$PG_GUARD_PG18_STAMP") == "$2" ]]
}

# pg_guard_pg18_cache_dir: the cache this user builds into.
pg_guard_pg18_cache_dir() {
	if [[ -n ${PG_GUARD_PG18_CACHE:-} ]]; then
		echo "$PG_GUARD_PG18_CACHE"
	elif [[ $EUID -eq 0 ]]; then
		echo /var/cache/primary_guard/pg18
	else
		echo "${XDG_CACHE_HOME:-$HOME/.cache}/primary_guard/pg18"
	fi
}

# pg_guard_pg18_build_tools: bison, flex and bzip2 (root installs them).
pg_guard_pg18_build_tools() {
	local missing=() t
	for t in bison flex bzip2; do
		command -v "$t" >/dev/null || missing+=("$t")
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	if [[ $EUID -ne 0 ]]; then
		echo "building PostgreSQL 18 needs ${missing[*]}; as root:" >&2
		echo "  apt-get install -y ${missing[*]}" >&2
		return 1
	fi
	pg_guard_log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" ||
		{ apt-get update && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends "${missing[@]}"; }
}

# pg_guard_pg18_steps PREFIX TARBALL STAMP_TEXT STAGE: unpack, configure,
# build and install into STAGE (make install DESTDIR=STAGE), in the current
# directory; stamp last.  Stops at the first failing step.
pg_guard_pg18_steps() {
	local prefix=$1 tarball=$2 stamp=$3 stage=$4 pgxs f
	pgxs=$stage$prefix/lib/postgresql/pgxs/src/test
	tar xjf "$tarball" || return 1
	cd postgresql-18.* || return 1
	./configure --prefix="$prefix" "${PG_GUARD_PG18_CONFIGURE_OPTS[@]}" || return 1
	make -j3 -s || return 1
	make -s install DESTDIR="$stage" || return 1
	make -s -C contrib install DESTDIR="$stage" || return 1
	# PGXS runs TAP tests with the modules under pgxs/src/test/perl and
	# isolation specs with pgxs/src/test/isolation: 18 installs both with
	# --enable-tap-tests; make sure of it (15's Debian package has both).
	if [[ ! -f $pgxs/perl/PostgreSQL/Test/Cluster.pm ]]; then
		make -s -C src/test/perl install DESTDIR="$stage" || return 1
	fi
	if [[ ! -x $pgxs/isolation/isolationtester || ! -x $pgxs/isolation/pg_isolation_regress ]]; then
		make -s -C src/test/isolation install DESTDIR="$stage" || return 1
	fi
	# PostgreSQL's own regression suite, for pg_regress_guarded.sh.
	make -s -C src/test/regress all || return 1
	mkdir -p "$stage$prefix/regress" || return 1
	cp -r src/test/regress/sql src/test/regress/expected src/test/regress/data \
		src/test/regress/parallel_schedule src/test/regress/resultmap \
		src/test/regress/regress.so "$stage$prefix/regress/" || return 1
	for f in perl/PostgreSQL/Test/Cluster.pm perl/PostgreSQL/Test/BackgroundPsql.pm \
		isolation/isolationtester isolation/pg_isolation_regress regress/pg_regress; do
		[[ -e $pgxs/$f ]] || { echo "missing after install: $pgxs/$f"; return 1; }
	done
	# Readable by the test user whatever the umask.
	chmod -R a+rX "$stage$prefix" || return 1
	printf '%s\n' "$stamp" >"$stage$prefix/$PG_GUARD_PG18_STAMP"
}

# pg_guard_pg18_make PREFIX TARBALL STAMP_TEXT: build and install into
# PREFIX (replacing it), stamp last.  Output goes to PREFIX.build.log.
# Called with the lock held: any other build.* directory is a leftover.
pg_guard_pg18_make() {
	local prefix=$1 tarball=$2 stamp=$3
	local parent log build rc=0
	parent=$(dirname "$prefix")
	log=$prefix.build.log
	rm -rf "$parent"/build.*
	build=$(mktemp -d "$parent/build.XXXXXX") || return 1
	chmod a+rx "$parent"
	pg_guard_log "building PostgreSQL 18 into $prefix (3-4 minutes; log $log)"
	# The compiler's temp files stay in the build dir, not in a test run's
	# TMPDIR (a test run's cleanup must not break a build).
	(cd "$build" && TMPDIR=$build pg_guard_pg18_steps "$prefix" "$tarball" "$stamp" "$build/stage") \
		>"$log" 2>&1 || rc=$?
	if [[ $rc -eq 0 ]]; then
		# Swap in the complete installation; the old one (if any) goes away.
		[[ ! -e $prefix ]] || mv "$prefix" "$build/old"
		mv "$build/stage$prefix" "$prefix" || rc=$?
	fi
	rm -rf "$build"
	if [[ $rc -ne 0 ]]; then
		pg_guard_log "PostgreSQL 18 build failed (status $rc), last lines of $log:"
		tail -n 30 "$log" >&2
		return 1
	fi
	pg_guard_log "PostgreSQL 18 built in $prefix"
}

# pg_guard_pg18_ensure: make sure a complete PostgreSQL 18 build exists,
# building it if needed; set PG_GUARD_PG18_PREFIX to it.
pg_guard_pg18_ensure() {
	local tarball stamp prefix
	tarball=$(pg_guard_pg18_tarball) || return 1
	stamp=$(pg_guard_pg18_stamp_text "$tarball") || return 1
	# An ordinary user may use root's complete cache (read-only).
	if [[ $EUID -ne 0 && -z ${PG_GUARD_PG18_CACHE:-} ]] &&
		pg_guard_pg18_complete /var/cache/primary_guard/pg18 "$stamp"; then
		PG_GUARD_PG18_PREFIX=/var/cache/primary_guard/pg18
		return 0
	fi
	prefix=$(pg_guard_pg18_cache_dir)
	if pg_guard_pg18_complete "$prefix" "$stamp"; then
		PG_GUARD_PG18_PREFIX=$prefix
		return 0
	fi
	pg_guard_pg18_build_tools || return 1
	mkdir -p "$(dirname "$prefix")" || return 1
	# One build at a time; whoever waited finds the cache complete.
	exec {lockfd}>"$prefix.lock" || return 1
	flock "$lockfd"
	if ! pg_guard_pg18_complete "$prefix" "$stamp"; then
		pg_guard_pg18_make "$prefix" "$tarball" "$stamp" || {
			exec {lockfd}>&-
			return 1
		}
	fi
	exec {lockfd}>&-
	PG_GUARD_PG18_PREFIX=$prefix
}
