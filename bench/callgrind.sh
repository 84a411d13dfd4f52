#!/usr/bin/env bash
# bench/callgrind.sh — instructions primary_guard adds per statement.
#
# Builds one temporary cluster (pgbench scale 1, the same roles and 10,000
# policies as bench/run.sh), then runs a single backend, `postgres --single`,
# under valgrind --tool=callgrind on that same data directory, with and
# without shared_preload_libraries = 'primary_guard', and counts the
# instructions (Ir) of the whole process.  Each configuration runs with
# N1 and N2 identical statements; (Ir(N2) - Ir(N1)) / (N2 - N1) is the
# marginal cost of one statement, free of start-up, library loading and the
# one-time cache fill.  Two kinds of statement:
#
#   execute  PREPARE q AS SELECT abalance FROM pgbench_accounts WHERE aid = 1,
#            then EXECUTE q: the guard runs twice per statement (the
#            ProcessUtility hook for EXECUTE, the ExecutorStart hook for the
#            plan), an upper bound for pgbench -M prepared, whose protocol-
#            level Bind/Execute only passes the ExecutorStart hook.
#   simple   SELECT abalance FROM pgbench_accounts WHERE aid = 1 each time
#            (parse, plan, ExecutorStart hook).
#   small    allowed statements that read small tables: a full scan of a
#            small lookup table (pgbench_branches) and a few index probes
#            (aid IN (1, 2, 3)), alternately; the limited role's policies
#            count every row of both.
#   rows100k one statement reading 100,000 rows through an index
#            (aid <= 100000): the run-time count's cost per row, measured
#            with N1R and N2R statements (valgrind is slow).
#
# Each role is compared with the same role on the same data without the
# library (the role's own privilege checks differ slightly).
#
# Roles: the single-user backend's session user is the bootstrap superuser
# (no policy applies to it); SET ROLE bench_free / bench_limited makes the
# guard resolve the stricter of the two, i.e. nothing for bench_free and the
# 50 inherited limit policies for bench_limited.
#
# Tunables: N1, N2, NPOLICIES, KEEP=1 (keep temp dir and callgrind files).

set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

N1=${N1:-1000}
N2=${N2:-3000}
N1R=${N1R:-2}
N2R=${N2R:-6}
NPOLICIES=${NPOLICIES:-10000}
NGROUPS=50
KEEP=${KEEP:-0}
PGUSER_OS=${PGUSER_OS:-postgres}
PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BINDIR=${PG_BINDIR:-$($PG_CONFIG --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
PKGLIBDIR=$($PG_CONFIG --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)
PORT=${PORT:-55433}

command -v valgrind >/dev/null || { echo "callgrind: valgrind not installed" >&2; exit 2; }
[ -f "$PKGLIBDIR/primary_guard.so" ] || { echo "callgrind: run 'make install' first" >&2; exit 2; }

if [ "$(id -u)" = 0 ]; then AS=(runuser -u "$PGUSER_OS" --); RUN_USER=$PGUSER_OS; else AS=(); RUN_USER=$(id -un); fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pg_guard_callgrind.XXXXXX")
chmod 755 "$TMP"
[ "$(id -u)" = 0 ] && chown "$RUN_USER" "$TMP"
DATA=$TMP/data
SOCK=$TMP
STARTED=0
cleanup() {
	local rc=$?
	[ "$STARTED" = 1 ] && [ -f "$DATA/postmaster.pid" ] &&
		"${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
	if [ "$KEEP" = 1 ]; then echo "callgrind: kept $TMP"; else rm -rf "$TMP"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
as_pg() { "${AS[@]}" "$@"; }
psql_pg() { as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d bench "$@"; }

echo "== primary_guard instruction counts: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(valgrind --version), $("$PG_BINDIR/postgres" --version)"

echo "   library: $PKGLIBDIR/primary_guard.so md5 $(md5sum "$PKGLIBDIR/primary_guard.so" | cut -c1-12), built $(date -u -r "$PKGLIBDIR/primary_guard.so" '+%Y-%m-%d %H:%M UTC'); tree: $(git -C "$(dirname "$0")/.." log -1 --format='%h %s' 2>/dev/null | cut -c1-60)"
as_pg "$PG_BINDIR/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --no-locale >/dev/null
cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$SOCK'
port = $PORT
shared_buffers = 128MB
fsync = off
synchronous_commit = off
autovacuum = off
jit = off
max_parallel_workers_per_gather = 0
EOF
STARTED=1
as_pg "$PG_BINDIR/pg_ctl" -D "$DATA" -l "$TMP/server.log" -o "-c shared_preload_libraries=primary_guard" -w start >/dev/null
as_pg "$PG_BINDIR/createdb" -h "$SOCK" -p "$PORT" -U postgres bench
as_pg "$PG_BINDIR/pgbench" -h "$SOCK" -p "$PORT" -U postgres -i -q -s 1 bench >/dev/null 2>&1
NFILL=$((NPOLICIES - NGROUPS - 1))
psql_pg -v ngroups="$NGROUPS" -v nfill="$NFILL" <"$BENCH_DIR/roles.sql" >/dev/null
psql_pg -v ngroups="$NGROUPS" -v nfill="$NFILL" <"$BENCH_DIR/policies.sql" >/dev/null
psql_pg >/dev/null <<EOF
VACUUM ANALYZE;
CHECKPOINT;
EOF
echo "   $(psql_pg -tAc "SELECT count(*) FROM primary_guard.policy") policies; bench_limited: $(psql_pg -tAc "SELECT action || ', ' || source FROM primary_guard.effective_policy('bench_limited')" | cut -c1-60)..."
as_pg "$PG_BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
STARTED=0

# input for postgres --single: one statement per line
make_input() {			# make_input KIND ROLE N
	echo "SET ROLE $2;"
	echo "SELECT abalance FROM pgbench_accounts WHERE aid = 1;"
	case $1 in
	execute)
		echo "PREPARE q AS SELECT abalance FROM pgbench_accounts WHERE aid = 1;"
		for _ in $(seq 1 "$3"); do echo "EXECUTE q;"; done ;;
	simple)
		for _ in $(seq 1 "$3"); do echo "SELECT abalance FROM pgbench_accounts WHERE aid = 1;"; done ;;
	small)
		echo "SELECT count(*) FROM pgbench_branches;"
		echo "SELECT sum(abalance) FROM pgbench_accounts WHERE aid IN (1, 2, 3);"
		for i in $(seq 1 "$3"); do
			if [ $((i % 2)) = 0 ]; then echo "SELECT count(*) FROM pgbench_branches;"
			else echo "SELECT sum(abalance) FROM pgbench_accounts WHERE aid IN (1, 2, 3);"; fi
		done ;;
	rows100k)
		for _ in $(seq 1 "$3"); do echo "SELECT sum(abalance) FROM pgbench_accounts WHERE aid <= 100000;"; done ;;
	esac
}

# run_one KIND LIB(0|1) ROLE N -> total Ir
run_one() {
	local kind=$1 lib=$2 role=$3 n=$4 out
	out=$TMP/cg.$kind.$lib.$role.$n
	make_input "$kind" "$role" "$n" >"$TMP/in.sql"
	local preload=""
	[ "$lib" = 1 ] && preload=primary_guard
	as_pg valgrind --tool=callgrind --callgrind-out-file="$out" \
		"$PG_BINDIR/postgres" --single -D "$DATA" -c shared_preload_libraries="$preload" \
		-c log_min_messages=warning bench <"$TMP/in.sql" >"$out.stdout" 2>"$out.stderr"
	if grep -q 'ERROR' "$out.stdout" "$out.stderr"; then
		echo "callgrind: statement failed in $kind/$lib/$role/$n:" >&2
		grep -m3 ERROR "$out.stdout" "$out.stderr" >&2
		exit 2
	fi
	awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

declare -A PER
echo
printf '   %-8s %-18s %14s %14s %12s\n' kind config "Ir(N=$N1)" "Ir(N=$N2)" "Ir/stmt"
KINDS=${KINDS:-execute simple small rows100k}
kind_n() {			# kind_n KIND -> "N1 N2"
	if [ "$1" = rows100k ]; then echo "$N1R $N2R"; else echo "$N1 $N2"; fi
}
for kind in $KINDS; do
	read -r n1 n2 <<<"$(kind_n "$kind")"
	for cfg in "0 bench_free" "1 bench_free" "0 bench_limited" "1 bench_limited"; do
		read -r lib role <<<"$cfg"
		a=$(run_one "$kind" "$lib" "$role" "$n1")
		b=$(run_one "$kind" "$lib" "$role" "$n2")
		per=$(awk -v a="$a" -v b="$b" -v n=$((n2 - n1)) 'BEGIN { printf "%.0f", (b - a) / n }')
		PER[$kind.$lib.$role]=$per
		name=$([ "$lib" = 1 ] && echo "lib/${role#bench_}" || echo "nolib/${role#bench_}")
		printf '   %-8s %-18s %14s %14s %12s\n' "$kind" "$name" "$a" "$b" "$per"
	done
done

echo
echo "== instructions added per statement by primary_guard (vs. the same role without the library)"
for kind in $KINDS; do
	for role in bench_free bench_limited; do
		base=${PER[$kind.0.$role]}
		v=${PER[$kind.1.$role]}
		printf '   %-8s %-14s %+6d Ir/stmt  (%+.2f%% of %s)\n' "$kind" "${role#bench_}" $((v - base)) \
			"$(awk -v v="$v" -v b="$base" 'BEGIN { print 100 * (v - b) / b }')" "$base"
	done
done

# Where the added instructions go: per-function self cost per statement
# ((N2 run - N1 run) / (N2 - N1)), library configuration minus no library.
selfcost() {			# selfcost FILE -> "function<TAB>Ir" (self cost)
	callgrind_annotate --threshold=100 "$1" 2>/dev/null |
		awk '/^ *[0-9,]+ / && !/=>/ && /:/ { v = $1; gsub(",", "", v); $1 = ""; sub(/^ *\([^)]*\) */, "");
			sub(/ \[.*$/, ""); sub(/^.*\//, ""); print $0 "\t" v }' | sort -t "$(printf '\t')" -k1,1
}
perstmt() {			# perstmt KIND LIB ROLE -> "function<TAB>Ir/stmt"
	local n1 n2
	read -r n1 n2 <<<"$(kind_n "$1")"
	join -t "$(printf '\t')" -a1 -a2 -e 0 -o 0,1.2,2.2 \
		<(selfcost "$TMP/cg.$1.$2.$3.$n1") <(selfcost "$TMP/cg.$1.$2.$3.$n2") |
		awk -F '\t' -v n=$((n2 - n1)) '{ printf "%s\t%.1f\n", $1, ($3 - $2) / n }'
}
if command -v callgrind_annotate >/dev/null; then
	for kind in $KINDS; do
		for role in bench_free bench_limited; do
			perstmt "$kind" 0 "$role" >"$TMP/per.0"
			perstmt "$kind" 1 "$role" >"$TMP/per.1"
			echo
			echo "== $kind, lib/${role#bench_} - nolib: self Ir per statement by function (|diff| >= 3)"
			join -t "$(printf '\t')" -a1 -a2 -e 0 -o 0,1.2,2.2 "$TMP/per.0" "$TMP/per.1" |
				awk -F '\t' '{ d = $3 - $2; if (d >= 3 || d <= -3) printf "   %+8.1f  %s\n", d, $1 }' |
				sort -k1,1 -g -r | head -20
		done
	done
fi
