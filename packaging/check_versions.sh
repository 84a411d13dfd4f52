#!/usr/bin/env bash
# packaging/check_versions.sh: do the version numbers of a release agree?
#
# The release version is META.json's "version", MAJOR.MINOR.PATCH (semver,
# as PGXN wants); the extension version is its MAJOR.MINOR (CHANGELOG.md
# explains why).  Checked, one "ok - ..." / "not ok - ..." line each:
#   - META.json: version is X.Y.Z, and provides.primary_guard.version is it;
#   - primary_guard.control: default_version is X.Y;
#   - the newest fresh-install script primary_guard--A.B.sql is X.Y;
#   - every older fresh-install version has a chain of upgrade scripts
#     (primary_guard--A.B--C.D.sql) to X.Y;
#   - debian/changelog: the top entry's upstream version (no epoch, no
#     Debian revision) is X.Y.Z;
#   - CHANGELOG.md: the first "## " heading starts with X.Y.Z.
# Exit status 1 if any check failed.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 1
failed=0
check() { # check NAME EXPECTED ACTUAL
	if [[ -n $2 && $2 == "$3" ]]; then
		echo "ok - versions: $1 is $3"
	else
		echo "not ok - versions: $1 is '$3', expected '$2'"
		failed=1
	fi
}

# meta EXPR: a perl expression over $m, the decoded META.json.
# shellcheck disable=SC2016  # the arguments are perl, expanded by perl
meta() { perl -MJSON::PP -0777 -ne "my \$m = decode_json(\$_); print $1 // ''" META.json 2>/dev/null; }
# shellcheck disable=SC2016
release=$(meta '$m->{version}')
if [[ $release =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]; then
	echo "ok - versions: META.json version $release is MAJOR.MINOR.PATCH"
	extversion=${BASH_REMATCH[1]}.${BASH_REMATCH[2]}
else
	echo "not ok - versions: META.json version '$release' is not MAJOR.MINOR.PATCH"
	failed=1
	extversion=
fi
# shellcheck disable=SC2016
check "META.json provides.primary_guard.version" "$release" "$(meta '$m->{provides}{primary_guard}{version}')"

control=$(sed -n "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" primary_guard.control)
check "primary_guard.control default_version" "$extversion" "$control"

# Fresh-install scripts primary_guard--A.B.sql, oldest first.
mapfile -t installs < <(find . -maxdepth 1 -name 'primary_guard--*.sql' ! -name 'primary_guard--*--*' |
	sed -n 's|^\./primary_guard--\([0-9][0-9.]*\)\.sql$|\1|p' | sort -V)
check "the newest fresh-install script primary_guard--X.Y.sql" "$extversion" "${installs[-1]:-}"

# Upgrade chains: from each older fresh-install version, follow upgrade
# scripts (any of them, breadth-first) until X.Y is reached.
no_path=()
for from in "${installs[@]}"; do
	[[ $from == "$extversion" ]] && continue
	reached=" $from " frontier=("$from")
	while [[ ${#frontier[@]} -gt 0 ]]; do
		next=()
		for v in "${frontier[@]}"; do
			for f in primary_guard--"$v"--*.sql; do
				[[ -f $f ]] || continue
				to=${f#primary_guard--"$v"--}
				to=${to%.sql}
				[[ $reached == *" $to "* ]] && continue
				reached+="$to "
				next+=("$to")
			done
		done
		frontier=("${next[@]}")
	done
	[[ $reached == *" $extversion "* ]] || no_path+=("$from")
done
if [[ ${#no_path[@]} -eq 0 ]]; then
	echo "ok - versions: every older version (${installs[*]}) updates to ${extversion:-?} by upgrade scripts"
else
	echo "not ok - versions: no chain of primary_guard--A--B.sql scripts from ${no_path[*]} to ${extversion:-?}"
	failed=1
fi

debver=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog)
debupstream=${debver#*:}
debupstream=${debupstream%-*}
check "debian/changelog's top entry (upstream part of $debver)" "$release" "$debupstream"

changelog=$(sed -n 's/^## \([^ ]*\).*/\1/p' CHANGELOG.md | head -n 1)
check "CHANGELOG.md's newest entry" "$release" "$changelog"

exit "$failed"
