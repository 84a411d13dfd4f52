#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2119  # count_* are called indirectly
# test/run_tests.sh - what `make test` (and CI) runs.
#
# Installs the Debian packages (as root), then for each PostgreSQL version
# of PG_VERSIONS in turn (15, then 18 built from source and cached once per
# machine, see test/pg_build.sh): builds the extension in a copy of the tree
# (any compiler "warning:" is a failure), installs it (system / cached
# installation as root, private PostgreSQL copy otherwise; see test/lib.sh),
# then runs as an ordinary user, each even if an earlier one failed:
#
#   regress    make installcheck, pg_regress suite  (REGRESS in the Makefile)
#   isolation  make installcheck, isolation specs   (ISOLATION)
#   tap        make installcheck, prove -v t/*.pl   (TAP_TESTS)
#   extra      test/suites/*.sh meant for this version ("# versions:" line,
#              see test/suites/README; prints "ok - x" / "not ok - x")
#
# Every result name starts with the version: pg15/regress/executor,
# pg18/tap/..., pg18/extra/pg_regress_guarded: ...
#
# Run as root, test/suites/package.sh (which builds, installs and purges the
# Debian package) runs first instead, as root, from the checkout (its
# `make dist` needs .git), before anything is built or installed.
#
# Counted: each pg_regress test, each isolation spec, each TAP assertion
# (a TAP file that dies or breaks its plan counts one more failure), each
# ok/not ok line of an extra suite; a suite that fails without reporting a
# failed test counts as one failure.  The last line printed is exactly
#
#   N passed, M failed
#
# covering every version, and the exit status is 0 iff M = 0 and N > 0.
#
# Environment: PG_VERSIONS (default "15 18") picks versions, SUITES
# (default "regress isolation tap extra") suites, SUITE_TIMEOUT (seconds,
# default 600) bounds each suite and RUN_BUDGET (default 1680) the whole run
# including a cold build of PostgreSQL 18, so it ends within 30 minutes;
# PG_GUARD_KEEP=1 keeps the temp dir for inspection.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=test/lib.sh
source "$repo/test/lib.sh"

SUITES=${SUITES:-regress isolation tap extra}
PG_VERSIONS=${PG_VERSIONS:-15 18}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-600}
RUN_BUDGET=${RUN_BUDGET:-1680}
passed=0
failed=0
failures=() # names of what failed, listed before the final line

# finish: print the failure list and the final count line, exit accordingly.
finish() {
	if [[ ${#failures[@]} -gt 0 ]]; then
		echo "failed:"
		printf '  %s\n' "${failures[@]}"
	fi
	echo "$passed passed, $failed failed"
	[[ $failed -eq 0 && $passed -gt 0 ]] && exit 0
	exit 1
}

fail() {
	failed=$((failed + 1))
	failures+=("$1")
}

# show FILE LINES: print the last LINES lines of FILE under a header.
show() {
	[[ -s $1 ]] || return 0
	echo "----- ${1#"$PG_GUARD_WORK"/} (last $2 lines) -----"
	tail -n "$2" "$1"
}

# show_diffs FILE: a regression.diffs file, first 80 lines of each test's diff.
show_diffs() {
	[[ -s $1 ]] || return 0
	echo "----- ${1#"$PG_GUARD_WORK"/} (first 80 lines per test) -----"
	awk '/^diff / { n = 0 } n++ < 80' "$1"
}

# Counters.  Each reads a suite log and adds to passed/failed.

# pg_regress / pg_isolation_regress, PG 15 format ("test x ... ok 12 ms";
# anything but "ok" after the dots, e.g. "FAILED" or a diff error, fails x)
# and PG 16+ format ("ok 1 - x", "not ok 2 - x").
count_regress() {
	local suite=$1 log=$2 line re15='^(test +| +)?([^ ]+) +\.\.\. +([^ ]*)'
	local re16='^(not )?ok [0-9]+ +(\+ +)?- +([^ ]+)'
	while IFS= read -r line; do
		if [[ $line =~ $re15 ]]; then
			if [[ ${BASH_REMATCH[3]} == ok ]]; then passed=$((passed + 1)); else fail "$suite/${BASH_REMATCH[2]}"; fi
		elif [[ $line =~ $re16 ]]; then
			if [[ -z ${BASH_REMATCH[1]} ]]; then passed=$((passed + 1)); else fail "$suite/${BASH_REMATCH[3]}"; fi
		fi
	done <"$log"
}

# prove -v: top-level "ok N"/"not ok N" lines (indented subtest lines are
# summarised by their parent; "not ok ... # TODO" is an expected failure).
# In prove's "Test Summary Report", a file that failed with no failed
# assertion (non-zero exit) or that died / broke its plan ("Parse errors")
# counts one more failure.  Failing files go to tap_failed_files.
tap_failed_files=()
count_tap() {
	local suite=$1 log=$2 line file='?' summary=0 counted=0
	local re_file='^(t/[^ ]+\.pl) \.\.' re_sum='^(t/[^ ]+\.pl) +\(Wstat: .* Failed: ([0-9]+)\)'
	while IFS= read -r line; do
		if [[ $summary -eq 0 && $line =~ $re_file ]]; then
			file=${BASH_REMATCH[1]}
		elif [[ $summary -eq 0 && $line =~ ^ok\ [0-9]+ ]]; then
			passed=$((passed + 1))
		elif [[ $summary -eq 0 && $line =~ ^not\ ok\ [0-9]+ && ! $line =~ \#\ *TODO ]]; then
			fail "$suite/$file: $line"
			tap_failed_files+=("$file")
		elif [[ $line == 'Test Summary Report' ]]; then
			summary=1
		elif [[ $summary -eq 1 && $line =~ $re_sum ]]; then
			file=${BASH_REMATCH[1]} counted=0
			if [[ ${BASH_REMATCH[2]} -eq 0 ]]; then
				fail "$suite/$file: exited non-zero"
				tap_failed_files+=("$file")
				counted=1
			fi
		elif [[ $summary -eq 1 && $counted -eq 0 && $line =~ ^\ +Parse\ errors:\ (.*) ]]; then
			fail "$suite/$file: died or broke its plan (${BASH_REMATCH[1]})"
			counted=1
		fi
	done <"$log"
}

# extra suites: "ok - name" / "not ok - name".
count_extra() {
	local suite=$1 log=$2 line
	while IFS= read -r line; do
		if [[ $line =~ ^ok([^a-zA-Z]|$) ]]; then
			passed=$((passed + 1))
		elif [[ $line =~ ^not\ ok([^a-zA-Z]|$) ]]; then
			fail "$suite: $line"
		fi
	done <"$log"
}

# run_suite NAME COUNTER [--root] CMD...: run CMD as the test user in the
# work copy (with --root: as ourselves in the checkout), bounded by
# SUITE_TIMEOUT and what is left of RUN_BUDGET, output shown and logged;
# count the results.  Returns 1 if the suite had failures.
run_suite() {
	local name=$1 counter=$2 rc=0 limit=$((RUN_BUDGET - SECONDS))
	local dir=${PG_GUARD_WORK:-$repo} as=(pg_guard_as_user)
	shift 2
	if [[ $1 == --root ]]; then
		dir=$repo as=()
		shift
	fi
	if [[ $limit -lt 10 ]]; then
		fail "$name: not run, RUN_BUDGET of ${RUN_BUDGET}s used up"
		return 1
	fi
	[[ $limit -lt $SUITE_TIMEOUT ]] || limit=$SUITE_TIMEOUT
	local log=$PG_GUARD_TMP/logs/${name////_}.log
	local f0=$failed p0=$passed
	echo
	echo "===== $name ====="
	(cd "$dir" && "${as[@]}" timeout -k 30 "$limit" "$@") 2>&1 |
		tee "$log" || rc=$?
	"$counter" "$name" "$log"
	if [[ $rc -ne 0 && $failed -eq $f0 ]]; then
		fail "$name: exited with status $rc$([[ $rc -eq 124 ]] && echo " (timeout after ${limit}s)")"
	fi
	echo "===== $name: $((passed - p0)) passed, $((failed - f0)) failed ====="
	[[ $failed -eq $f0 ]]
}

# Logs of the failing TAP files (tmp_check/log/regress_log_NAME and the
# NAME_<node>.log server logs), or of all files if none was identified.
show_tap_logs() {
	local logdir=$PG_GUARD_WORK/tmp_check/log f t pattern=('*')
	if [[ ${#tap_failed_files[@]} -gt 0 ]]; then
		pattern=()
		for t in "${tap_failed_files[@]}"; do
			t=$(basename "$t" .pl)
			pattern+=("regress_log_$t" "${t}_*.log")
		done
	fi
	for t in "${pattern[@]}"; do
		for f in "$logdir"/$t; do show "$f" 40; done
	done
}

# Ask the project's Makefile for a variable (REGRESS, ISOLATION, TAP_TESTS).
make_var() {
	# shellcheck disable=SC2016  # $($*) is make syntax
	make -s --no-print-directory -C "$PG_GUARD_WORK" PG_CONFIG="$PG_CONFIG" \
		--eval 'pgg-print-%: ; @echo $($*)' "pgg-print-$1"
}

# ---- setup ----------------------------------------------------------------

# sqlsmith feeds the fuzz suite, pg_auto_failover and Patroni (with etcd)
# the manager suites; root installs them with the rest (services not
# started, see pg_guard_install_packages), an ordinary user without them
# gets those suites skipped.
if [[ $EUID -eq 0 ]]; then
	pg_guard_install_packages sqlsmith "postgresql-$PG_GUARD_PGVERSION-auto-failover" \
		pg-auto-failover-cli patroni python3-etcd etcd-server
else
	pg_guard_install_packages
fi
pg_guard_make_tmp
mkdir -p "$PG_GUARD_TMP/logs"

# suite_versions FILE: the PostgreSQL versions an extra suite runs on, from
# its "# versions: 15 18" line (test/suites/README); 15 if it has none.
suite_versions() {
	local line
	line=$(grep -m1 -E '^# versions:' "$1" || true)
	if [[ -n $line ]]; then echo "${line#\# versions:}"; else echo 15; fi
}

# run_version V: build, install and run every suite of SUITES on
# PostgreSQL V; result names start with "pgV/".
run_version() {
	local v=$1 pv=pg$1 suite s
	echo
	echo "===== $pv: setup ====="
	if ! pg_guard_use_version "$v" "$repo" "$PG_GUARD_TMP/$pv/src"; then
		fail "$pv/setup: no PostgreSQL $v installation"
		return
	fi
	echo "===== $pv: build ====="
	if ! pg_guard_build; then
		fail "$pv/build: make failed"
		return
	fi
	if [[ $PG_GUARD_BUILD_WARNINGS -gt 0 ]]; then
		grep 'warning:' "$PG_GUARD_BUILD_LOG"
		fail "$pv/build: $PG_GUARD_BUILD_WARNINGS compiler warning line(s)"
	fi
	if ! pg_guard_install; then
		fail "$pv/install: make install failed"
		return
	fi

	# Each installcheck runs one kind of test: the other two variables are
	# emptied on the command line.
	for suite in $SUITES; do
		case $suite in
		regress)
			[[ -n $(make_var REGRESS) ]] || { echo "(no REGRESS tests)"; continue; }
			run_suite "$pv/regress" count_regress \
				make -s installcheck PG_CONFIG="$PG_CONFIG" ISOLATION= TAP_TESTS= ||
				{ show_diffs "$PG_GUARD_WORK/regression.diffs"
				  show "$PG_GUARD_WORK/log/postmaster.log" 50; }
			;;
		isolation)
			[[ -n $(make_var ISOLATION) ]] || { echo "(no ISOLATION specs)"; continue; }
			run_suite "$pv/isolation" count_regress \
				make -s installcheck PG_CONFIG="$PG_CONFIG" REGRESS= TAP_TESTS= ||
				{ show_diffs "$PG_GUARD_WORK/output_iso/regression.diffs"
				  show "$PG_GUARD_WORK/output_iso/log/postmaster.log" 50; }
			;;
		tap)
			if [[ -z $(make_var TAP_TESTS) ]] || ! compgen -G "$PG_GUARD_WORK/t/*.pl" >/dev/null; then
				echo "(no TAP tests)"
				continue
			fi
			tap_failed_files=()
			run_suite "$pv/tap" count_tap \
				make -s installcheck PG_CONFIG="$PG_CONFIG" REGRESS= ISOLATION= PROVE_FLAGS=-v ||
				show_tap_logs
			;;
		extra)
			shopt -s nullglob
			extra_suites=("$PG_GUARD_WORK"/test/suites/*.sh)
			shopt -u nullglob
			for s in "${extra_suites[@]}"; do
				[[ $package_ran -eq 1 && $(basename "$s") == package.sh ]] && continue
				if [[ " $(suite_versions "$s") " != *" $v "* ]]; then
					echo "(extra/$(basename "$s" .sh): not for PostgreSQL $v)"
					continue
				fi
				run_suite "$pv/extra/$(basename "$s" .sh)" count_extra \
					bash "test/suites/$(basename "$s")" || true
			done
			;;
		*)
			fail "unknown suite '$suite' in SUITES"
			;;
		esac
	done
}

# ---- suites ---------------------------------------------------------------

# The package suite as root, while no `make install` copy of this run is
# there yet (it moves any other away and puts it back).
package_ran=0
if [[ $EUID -eq 0 && " $SUITES " == *" extra "* && -f $repo/test/suites/package.sh ]]; then
	run_suite extra/package count_extra --root bash test/suites/package.sh || true
	package_ran=1
fi

for v in $PG_VERSIONS; do
	case $v in
	15 | 18) run_version "$v" ;;
	*) fail "PG_VERSIONS: PostgreSQL $v is not supported (15, 18)" ;;
	esac
done

finish
