#!/usr/bin/env bash
# versions: 18
# test/suites/pg_regress_guarded.sh - PostgreSQL's own regression suite
# (src/test/regress, parallel_schedule, from the 18 source that
# test/pg_build.sh builds and keeps as <prefix>/regress) with the guard on.
#
# Three runs, each on a fresh server (initdb, the settings pg_regress gives
# its own temporary instances) and a `regression` database created the way
# pg_regress creates it (template0, the same ALTER DATABASE settings; then
# pg_regress --use-existing, since pg_regress would otherwise drop and
# recreate it from template0, without the extension):
#
#   base   no library;
#   limit  primary_guard preloaded, CREATE EXTENSION in `regression`, a
#          `public` `limit` policy that never trips (max_scan_rows =
#          bigint max): every statement of every role, superusers included,
#          goes through the full plan walk;
#   warn   the same with a `public` `warn` policy that trips on every full
#          scan (max_scan_rows => 0, mode => 'warn').
#
# Checks (one "ok - ..." / "not ok - ..." line each, for test/run_tests.sh):
#   - base ran every test of the schedule (failures there are environmental
#     and are only listed);
#   - limit: the same tests pass and fail as in base, with the same diffs;
#     the guard checked statements (primary_guard.stats) and rejected or
#     warned about none; no crash, PANIC or TRAP in the server log;
#   - warn: every test ran; the guard warned (stats); each test's output
#     minus the guard's WARNINGs (with their DETAIL/HINT/CONTEXT lines) is
#     exactly base's output; no ERROR carrying the guard's messages and no
#     crash in the server log.
#
# Environment: PGREG_TIMEOUT (seconds per pg_regress run, default 300).
# Run by hand: PG_CONFIG=/var/cache/primary_guard/pg18/bin/pg_config bash
# test/suites/pg_regress_guarded.sh (after installing the extension there).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/lib.sh
source "$repo/test/lib.sh"

pg_guard_use_installed_pg
PGREG_TIMEOUT=${PGREG_TIMEOUT:-300}
prefix=$(dirname "$("$PG_CONFIG" --bindir)")
kit=$prefix/regress
pg_regress=$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress
if [[ ! -f $kit/parallel_schedule || ! -x $pg_regress ]]; then
	echo "not ok - pg_regress_guarded: no PostgreSQL regression suite at $kit (test/pg_build.sh installs it)"
	exit 1
fi

if [[ -z ${PG_GUARD_TMP:-} ]]; then
	PG_GUARD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/primary_guard_pgreg.XXXXXX")
	[[ ${PG_GUARD_KEEP:-0} == 1 ]] || trap pg_guard_cleanup EXIT
else
	dir=$(mktemp -d "$PG_GUARD_TMP/pgreg.XXXXXX")
	trap 'for d in "$dir"/*/data; do pg_guard_stop_server "$d"; done' EXIT
	PG_GUARD_TMP=$dir
fi
[[ $EUID -eq 0 ]] && chown "$PG_GUARD_USER:" "$PG_GUARD_TMP"
work=$PG_GUARD_TMP
pg_guard_log "pg_regress_guarded dir $work, suite $kit"

# Tests in the schedule.
mapfile -t schedule < <(sed -n 's/^test: *//p' "$kit/parallel_schedule" | tr ' ' '\n' | sed '/^$/d')

# run NAME [preload]: a fresh server, the regression database, the policy
# for NAME, then pg_regress.  Leaves $work/NAME/{data,out,pg_regress.log}.
run() {
	local name=$1 d=$work/$1 setup=''
	mkdir -p "$d/out"
	[[ $EUID -eq 0 ]] && chown -R "$PG_GUARD_USER:" "$d"
	pg_guard_as_user initdb -D "$d/data" -A trust -U postgres -N >/dev/null || return 1
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$d/data'"
		echo "fsync = off"
		# What pg_regress writes into its temporary instances.
		echo "log_autovacuum_min_duration = 0"
		echo "log_checkpoints = on"
		echo "log_line_prefix = '%m %b[%p] %q%a '"
		echo "log_lock_waits = on"
		echo "log_temp_files = 128kB"
		echo "max_prepared_transactions = 2"
		[[ $name == base ]] || echo "shared_preload_libraries = 'primary_guard'"
	} >>"$d/data/postgresql.conf"
	pg_guard_as_user pg_ctl -D "$d/data" -l "$d/server.log" -w start >/dev/null || return 1
	case $name in
	limit) setup="SELECT primary_guard.set_policy('public', 'limit', max_scan_rows => 9223372036854775807);" ;;
	warn) setup="SELECT primary_guard.set_policy('public', 'limit', max_scan_rows => 0, mode => 'warn');" ;;
	esac
	# As pg_regress's create_database() does, plus the extension.
	pg_guard_as_user psql -X -q -h "$d/data" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL || return 1
CREATE DATABASE "regression" TEMPLATE=template0;
ALTER DATABASE "regression" SET lc_messages TO 'C';
ALTER DATABASE "regression" SET lc_monetary TO 'C';
ALTER DATABASE "regression" SET lc_numeric TO 'C';
ALTER DATABASE "regression" SET lc_time TO 'C';
ALTER DATABASE "regression" SET bytea_output TO 'hex';
ALTER DATABASE "regression" SET timezone_abbreviations TO 'Default';
\\connect regression
$([[ $name == base ]] || echo 'CREATE EXTENSION primary_guard;')
$setup
SQL
	local t0=$SECONDS
	(cd "$d/out" && pg_guard_as_user timeout -k 10 "$PGREG_TIMEOUT" "$pg_regress" \
		--use-existing --host="$d/data" --port=5432 --user=postgres \
		--bindir="$PG_GUARD_BINDIR" --inputdir="$kit" --outputdir="$d/out" \
		--dlpath="$kit" --max-concurrent-tests=20 \
		--schedule="$kit/parallel_schedule") >"$d/pg_regress.log" 2>&1
	local rc=$?
	pg_guard_log "pg_regress $name: exit $rc after $((SECONDS - t0)) s"
	return 0
}

# results NAME: "test status" lines (ok / failed), sorted.
results() {
	sed -nE 's/^(not )?ok +[0-9]+ +[-+] +([^ ]+).*/\2 \1/p' "$work/$1/pg_regress.log" |
		sed -e 's/ not $/ failed/' -e 's/ $/ ok/' | sort
}

# failed NAME: names of the tests that failed.
failed() { results "$1" | awk '$2 == "failed" { print $1 }'; }

# diffs NAME: regression.diffs with paths and timestamps reduced to names.
diffs() {
	[[ -f $work/$1/out/regression.diffs ]] || return 0
	sed -E -e 's#^diff (-[^ ]+ )*[^ ]*/([^/ ]+) [^ ]*/([^/ ]+)$#diff \2 \3#' \
		-e 's#^(---|\+\+\+) [^ ]*/([^/	]+)([	 ].*)?$#\1 \2#' "$work/$1/out/regression.diffs"
}

# ran_all NAME: every test of the schedule has a result.
ran_all() { [[ $(results "$1" | wc -l) -eq ${#schedule[@]} ]]; }

# crashes NAME: crash signatures in the server log.
crashes() {
	grep -E 'PANIC:|TRAP:|terminated by signal|terminated by exception|all server processes terminated' \
		"$work/$1/server.log" | head -5
}

# guard_errors NAME: ERROR/FATAL lines with the guard's messages.
guard_errors() {
	grep -E '(ERROR|FATAL|PANIC): +(statement rejected on|primary_guard)' "$work/$1/server.log" | head -5
}

# stat NAME COLUMN: sum of a primary_guard.stats column.
stat() {
	pg_guard_as_user psql -X -At -h "$work/$1/data" -U postgres -d regression \
		-c "SELECT coalesce(sum($2), 0) FROM primary_guard.stats"
}

stop() { pg_guard_stop_server "$work/$1/data"; }

# ---- base -------------------------------------------------------------------
run base
stop base
n=${#schedule[@]}
if ran_all base; then
	bf=$(failed base | paste -sd' ')
	echo "ok - base: PostgreSQL regression suite without the library: $n tests ran$([[ -n $bf ]] && echo ", differing for environmental reasons: $bf")"
else
	echo "not ok - base: only $(results base | wc -l) of $n tests ran without the library (see $work/base)"
	tail -n 20 "$work/base/pg_regress.log"
fi

# ---- limit: never trips ------------------------------------------------------
run limit
if ran_all limit && [[ $(results limit) == "$(results base)" ]] && [[ $(diffs limit) == "$(diffs base)" ]]; then
	echo "ok - limit: $n tests, the same results and diffs as without the library"
else
	echo "not ok - limit: results differ from the run without the library (tests: $(comm -3 <(results base) <(results limit) | awk '{ print $1 }' | sort -u | paste -sd' '))"
	diff <(diffs base) <(diffs limit) | head -n 60
fi
checked=$(stat limit checked) rejected=$(stat limit rejected) warned=$(stat limit warned)
if [[ ${checked:-0} -gt 10000 && $rejected == 0 && $warned == 0 ]]; then
	echo "ok - limit: the guard checked $checked statements and rejected none"
else
	echo "not ok - limit: the guard checked ${checked:-?} statements, rejected ${rejected:-?}, warned ${warned:-?} (expected >10000, 0, 0)"
fi
stop limit
problems=$(crashes limit; guard_errors limit)
if [[ -z $problems ]]; then
	echo "ok - limit: no crash and no error of the guard in the server log"
else
	echo "not ok - limit: the server log shows"
	echo "$problems"
fi

# ---- warn: trips on every full scan -------------------------------------------
run warn
warned=$(stat warn warned)
stop warn
if ran_all warn; then
	echo "ok - warn: all $n tests ran with a warning on every full scan"
else
	echo "not ok - warn: only $(results warn | wc -l) of $n tests ran (see $work/warn)"
	tail -n 20 "$work/warn/pg_regress.log"
fi
if [[ ${warned:-0} -gt 1000 ]]; then
	echo "ok - warn: the guard warned $warned times"
else
	echo "not ok - warn: the guard warned ${warned:-?} times (expected > 1000)"
fi
# Every test's output, without the guard's WARNING blocks (the WARNING line
# and its DETAIL, HINT and CONTEXT lines, a CONTEXT's continuation lines
# included), must be exactly base's output.
strip_warnings() {
	awk '
		/^WARNING:  statement rejected on / { skip = 1; ctx = 0; next }
		skip && /^(DETAIL|HINT):  / { ctx = 0; next }
		skip && /^CONTEXT:  / { ctx = 1; next }
		skip && ctx && /^(PL\/pgSQL function|SQL function|SQL statement|SQL expression|PL\/pgSQL expression|portal|COPY|extended query)/ { next }
		{ skip = 0; ctx = 0; print }' "$1"
}
bad=()
for t in "${schedule[@]}"; do
	f=$work/warn/out/results/$t.out
	if [[ ! -f $f ]]; then
		bad+=("$t(no output)")
	elif ! cmp -s <(strip_warnings "$f") "$work/base/out/results/$t.out"; then
		bad+=("$t")
	fi
done
if [[ ${#bad[@]} -eq 0 ]]; then
	echo "ok - warn: every test's output is the same as without the library, but for the guard's warnings"
else
	echo "not ok - warn: output changed beyond the guard's warnings in: ${bad[*]}"
	t=${bad[0]%%(*}
	[[ ! -f $work/warn/out/results/$t.out ]] ||
		diff <(strip_warnings "$work/warn/out/results/$t.out") "$work/base/out/results/$t.out" | head -n 30
fi
problems=$(crashes warn; guard_errors warn)
if [[ -z $problems ]]; then
	echo "ok - warn: no crash and no error of the guard in the server log"
else
	echo "not ok - warn: the server log shows"
	echo "$problems"
fi
