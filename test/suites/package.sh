#!/usr/bin/env bash
# test/suites/package.sh - the release artifacts: versions, `make dist`, the
# Debian package.  Prints "ok - ..." / "not ok - ..." lines for
# test/run_tests.sh.
#
#   versions  packaging/check_versions.sh: META.json, primary_guard.control,
#             the newest primary_guard--X.Y.sql, debian/changelog and
#             CHANGELOG.md agree (any user).
#   dist      `make dist` in a git checkout: the zip holds every committed
#             file under primary_guard-<version>/, META.json (with that
#             version) and the control file among them.  Skipped in a copy
#             of the tree without .git.
#   package   root only (installing a .deb needs it; servers still run as
#             postgres): `make deb` (its build-time tests included), lintian
#             with no error, the .deb's files; then any `make install` copy
#             of the extension is moved away, the .deb is installed with
#             `apt-get install ./...deb`, a server started with
#             shared_preload_libraries = 'primary_guard' runs CREATE
#             EXTENSION (and ALTER EXTENSION UPDATE from every older
#             version), debian/tests/installcheck (the autopkgtest:
#             `pg_buildext installcheck`, the regress and isolation suites)
#             passes against the installed files; the package is purged and
#             the `make install` copy put back as it was, also on failure.
#             As an ordinary user this part reports one SKIP.
#
# test/run_tests.sh runs it as root, from the checkout, before it builds and
# installs the extension (as an ordinary user, with the other extra suites).
# By hand, from the repository root: `sudo bash test/suites/package.sh`.
#
# Environment: PACKAGE_PGPORT: TCP port (loopback) of the pg_virtualenv
# cluster of the installcheck (default: the first free one from 5432).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/lib.sh
source "$repo/test/lib.sh"
# The Debian packages are built for the system PostgreSQL, whatever
# PG_CONFIG the caller uses.
v=$PG_GUARD_PGVERSION
PG_CONFIG=$PG_GUARD_SYSTEM_BINDIR/pg_config
pg_guard_use_installed_pg

pkg=postgresql-$v-primary-guard
started=$SECONDS

# ---- versions -------------------------------------------------------------
bash "$repo/packaging/check_versions.sh"

# ---- dist -----------------------------------------------------------------
# Own temp dir, reachable by postgres (the servers, pg_virtualenv's cluster
# reading the build tree): not under the runner's root-only PG_GUARD_TMP.
tmp=$(mktemp -d /tmp/primary_guard_package.XXXXXX)
chmod 755 "$tmp"
export TMPDIR=$tmp

# zip_names ZIP: member names; zip_cat ZIP NAME: a member's content.
zip_names() {
	perl -MIO::Uncompress::Unzip='$UnzipError' -e '
		my $z = IO::Uncompress::Unzip->new($ARGV[0]) or die "$UnzipError\n";
		my $s;
		do { print $z->getHeaderInfo->{Name}, "\n" } while (($s = $z->nextStream) > 0);
		die "$UnzipError\n" if $s < 0;' "$1"
}
zip_cat() {
	perl -MIO::Uncompress::Unzip='$UnzipError' -e '
		my $z = IO::Uncompress::Unzip->new($ARGV[0], Name => $ARGV[1]) or die "$UnzipError\n";
		local $/; print <$z>;' "$1" "$2"
}

if ! command -v git >/dev/null || ! git -C "$repo" rev-parse --verify -q HEAD >/dev/null 2>&1; then
	echo "ok - dist # SKIP $repo is not a git checkout (test/run_tests.sh runs this suite from the checkout as root)"
else
	version=$(perl -MJSON::PP -0777 -ne 'print decode_json($_)->{version}' "$repo/META.json")
	zip=$tmp/dist/primary_guard-$version.zip
	if ! make -s -C "$repo" dist DIST_DIR="$tmp/dist" >"$tmp/dist.log" 2>&1 || [[ ! -s $zip ]]; then
		echo "not ok - dist: make dist made no $zip: $(tail -n 5 "$tmp/dist.log")"
	else
		prefix=primary_guard-$version/
		zip_names "$zip" | sort >"$tmp/zip.list"
		git -C "$repo" ls-tree -r --name-only HEAD | sort >"$tmp/git.list"
		outside=$(grep -cv "^$prefix" "$tmp/zip.list")
		missing=()
		for f in META.json primary_guard.control Makefile LICENSE README.md; do
			grep -qx "$prefix$f" "$tmp/zip.list" || missing+=("$f")
		done
		# Every committed file except the export-ignore ones (.gitattributes).
		lost=$(sed "s|^|$prefix|" "$tmp/git.list" | grep -v "^$prefix\.\(ci/\|gitattributes\|gitignore\)" |
			comm -23 - "$tmp/zip.list" | head -n 5)
		zversion=$(zip_cat "$zip" "${prefix}META.json" |
			perl -MJSON::PP -0777 -ne 'print decode_json($_)->{version}' 2>/dev/null)
		if [[ $outside -eq 0 && ${#missing[@]} -eq 0 && -z $lost && $zversion == "$version" ]]; then
			echo "ok - dist: make dist made primary_guard-$version.zip, $(grep -vc '/$' "$tmp/zip.list") files under $prefix with META.json $version and the control file"
		else
			echo "not ok - dist: $zip: $outside entries outside $prefix; missing: ${missing[*]} ${lost//$'\n'/ }; META.json version '$zversion'"
		fi
	fi
fi

# ---- package --------------------------------------------------------------
cleanup_tmp() { rm -rf "$tmp"; }
if [[ $EUID -ne 0 ]]; then
	echo "ok - package # SKIP needs root to build and install the .deb (test/run_tests.sh run as root does it)"
	cleanup_tmp
	exit 0
fi
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
	echo "not ok - package: $pkg is already installed on this machine; not touching it (apt-get purge $pkg first)"
	cleanup_tmp
	exit 1
fi

pkglibdir=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension
saved=$tmp/saved
installed=0
moved=()
data=$tmp/data

# On any exit: stop the server, purge the package if we installed it, put
# back the `make install` copy we moved away, delete the temp dir.
finish() {
	pg_guard_stop_server "$data"
	if [[ $installed -eq 1 ]]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y "$pkg" >>"$tmp/apt.log" 2>&1 ||
			echo "not ok - package: apt-get purge $pkg failed: $(tail -n 3 "$tmp/apt.log")"
	fi
	local f
	for f in "${moved[@]}"; do
		mkdir -p "$(dirname "$f")" && mv "$saved$f" "$f" ||
			echo "not ok - package: could not put $f back from $saved"
	done
	cleanup_tmp
}
trap finish EXIT

# lintian comes from Debian, like sqlsmith for the fuzz suite.
command -v lintian >/dev/null || pg_guard_install_packages lintian >&2

# make deb: into our temp dir, checkout untouched; lintian is run below.
t0=$SECONDS
if ! LINTIAN=no make -s -C "$repo" deb DIST_DIR="$tmp/deb" >"$tmp/deb.log" 2>&1; then
	echo "not ok - package: make deb failed (log below)"
	tail -n 60 "$tmp/deb.log" >&2
	exit 1
fi
deb_seconds=$((SECONDS - t0))
debver=$(dpkg-parsechangelog -l "$repo/debian/changelog" -S Version)
deb=$tmp/deb/${pkg}_${debver}_$(dpkg --print-architecture).deb
build_tests=$(grep -c '^test .* \.\.\. ok' "$tmp/deb.log")
if [[ -f $deb ]]; then
	echo "ok - package: make deb built $(basename "$deb") in ${deb_seconds}s ($build_tests build-time tests passed)"
else
	echo "not ok - package: make deb made no $(basename "$deb"): $(ls "$tmp/deb")"
	exit 1
fi

lintian "$deb" >"$tmp/lintian.log" 2>&1
errors=$(grep -c '^E: ' "$tmp/lintian.log")
warnings=$(grep '^W: ' "$tmp/lintian.log" | sed 's/^W: [^ ]* \([^ ]*\).*/\1/' | sort -u | paste -sd ' ')
if [[ $errors -eq 0 ]] && ! grep -q '^E: \|internal error' "$tmp/lintian.log"; then
	echo "ok - package: lintian reports no error${warnings:+ (warnings: $warnings)}"
else
	echo "not ok - package: lintian: $errors error(s)"
	grep '^E: ' "$tmp/lintian.log" >&2
fi

# The .deb holds the library, the control file and every install script
# and secondary control file (primary_guard--*) of the tree, nothing else.
dpkg-deb -c "$deb" | awk '{ print $NF }' | sed 's|^\./|/|' >"$tmp/deb.list"
want=("$pkglibdir/primary_guard.so" "$extdir/primary_guard.control")
nsql=0
for f in "$repo"/primary_guard--*.sql "$repo"/primary_guard--*.control; do
	[[ -f $f ]] || continue
	want+=("$extdir/$(basename "$f")")
	nsql=$((nsql + 1))
done
absent=()
for f in "${want[@]}"; do grep -qx "$f" "$tmp/deb.list" || absent+=("$f"); done
extra_sql=$(grep "^$extdir/primary_guard--" "$tmp/deb.list" | while read -r f; do
	[[ -f $repo/$(basename "$f") ]] || echo "$f"; done)
if [[ ${#absent[@]} -eq 0 && -z $extra_sql ]]; then
	echo "ok - package: the .deb holds primary_guard.so, the control file and all $nsql primary_guard--* files"
else
	echo "not ok - package: the .deb lacks ${absent[*]}; holds scripts not in the tree: $extra_sql"
fi

# Move any `make install` copy away: what the server loads must come from
# the package.
for f in "$pkglibdir/primary_guard.so" "$pkglibdir/bitcode/primary_guard" \
	"$pkglibdir/bitcode/primary_guard.index.bc" "$extdir"/primary_guard.control "$extdir"/primary_guard--*; do
	[[ -e $f ]] || continue
	mkdir -p "$saved$(dirname "$f")"
	mv "$f" "$saved$f" && moved+=("$f")
done
pg_guard_log "moved ${#moved[@]} make install file(s) of primary_guard away (put back at the end)"

export DEBIAN_FRONTEND=noninteractive
if apt-get install -y --no-install-recommends "$deb" >"$tmp/apt.log" 2>&1 &&
	dpkg-query -W -f='${Status} ${Version}' "$pkg" 2>/dev/null | grep -q "install ok installed $debver"; then
	installed=1
	echo "ok - package: apt-get install ./$(basename "$deb") installed $pkg $debver"
else
	echo "not ok - package: apt-get install ./$(basename "$deb") failed (log below)"
	tail -n 20 "$tmp/apt.log" >&2
	exit 1
fi

# A server with the library preloaded from the package's files.
default=$(sed -n "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" "$extdir/primary_guard.control")
mkdir "$data"
chown "$PG_GUARD_USER:" "$data"
pg_guard_start_server "$data"
psql_su() { pg_guard_as_user psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
out=$(psql_su -c "CREATE EXTENSION primary_guard" \
	-c "SELECT extversion FROM pg_extension WHERE extname = 'primary_guard'" \
	-c "SET search_path = primary_guard, pg_catalog" \
	-c "SELECT server_state()" \
	-c "SELECT verdict FROM check_query('SELECT 1')" 2>&1)
if [[ $out == "$default"$'\n'primary$'\n'allow ]]; then
	echo "ok - package: with the package's library preloaded, CREATE EXTENSION installs version $default and the functions work"
else
	echo "not ok - package: CREATE EXTENSION on the installed package: $out"
	tail -n 10 "$data/server.log" >&2
fi

# ALTER EXTENSION UPDATE from every older fresh-install script shipped.
for f in "$extdir"/primary_guard--*.sql; do
	old=$(basename "$f" .sql)
	old=${old#primary_guard--}
	[[ $old == *--* || $old == "$default" ]] && continue
	db=upd_${old//./_}
	out=$(psql_su -c "CREATE DATABASE $db" 2>&1 &&
		pg_guard_as_user psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" \
			-c "CREATE EXTENSION primary_guard VERSION '$old'" \
			-c "ALTER EXTENSION primary_guard UPDATE" \
			-c "SELECT extversion FROM pg_extension WHERE extname = 'primary_guard'" 2>&1)
	if [[ $out == "$default" ]]; then
		echo "ok - package: ALTER EXTENSION primary_guard UPDATE goes from $old to $default"
	else
		echo "not ok - package: update from $old: $out"
	fi
done
pg_guard_stop_server "$data"

# The autopkgtest, in a copy of the tree (pg_buildext writes results and
# runs make clean where it runs).
mkdir "$tmp/src"
tar -C "$repo" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude='./tmp_check*' --exclude=./results --exclude=./output_iso \
	--exclude='./regression.*' --exclude=./log --exclude=./dist -cf - . | tar -C "$tmp/src" -xf -
t0=$SECONDS
(
	cd "$tmp/src" || exit 1
	[[ -z ${PACKAGE_PGPORT:-} ]] || export PGPORT=$PACKAGE_PGPORT
	debian/tests/installcheck
) >"$tmp/installcheck.log" 2>&1
rc=$?
re='^test +([^ ]+) +\.\.\. +([^ ]+)'
npass=0 nfail=0
while IFS= read -r line; do
	[[ $line =~ $re ]] || continue
	if [[ ${BASH_REMATCH[2]} == ok ]]; then
		npass=$((npass + 1))
	else
		nfail=$((nfail + 1))
		echo "not ok - package: installcheck on the installed package: ${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
	fi
done <"$tmp/installcheck.log"
if [[ $rc -eq 0 && $nfail -eq 0 && $npass -gt 0 ]]; then
	echo "ok - package: debian/tests/installcheck (pg_buildext installcheck) passes $npass regress and isolation tests against the installed package in $((SECONDS - t0))s"
else
	[[ $nfail -gt 0 ]] || echo "not ok - package: debian/tests/installcheck exited $rc after $npass passing tests"
	tail -n 80 "$tmp/installcheck.log" >&2
fi

# Purge, and nothing of the package is left.
if apt-get purge -y "$pkg" >>"$tmp/apt.log" 2>&1; then
	installed=0
	left=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -c installed)
	files=$(find "$pkglibdir" "$extdir" -name 'primary_guard*' 2>/dev/null | head -n 3)
	if [[ $left -eq 0 && -z $files ]]; then
		echo "ok - package: apt-get purge removes $pkg and its files"
	else
		echo "not ok - package: after apt-get purge: status '$left', files left: $files"
	fi
else
	echo "not ok - package: apt-get purge $pkg failed: $(tail -n 3 "$tmp/apt.log")"
fi
pg_guard_log "package suite: $((SECONDS - started))s (make deb ${deb_seconds}s)"
