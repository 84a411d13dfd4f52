#!/usr/bin/env bash
# versions: 15 18
# test/suites/fuzz.sh - random SQL from sqlsmith against guarded sessions.
#
# Starts a throwaway server (test/lib.sh) with tables, a partitioned table,
# views and data; a role under a 'limit' policy and one under 'deny'; runs
# sqlsmith as each for a bounded number of queries, then checks that no
# backend crashed (server log), that the server is up, and that the guard
# still rejects a heavy query.  Prints "ok - ..." / "not ok - ..." lines
# for test/run_tests.sh; without sqlsmith it prints one "ok - ... # SKIP"
# line (as root it first installs Debian's sqlsmith package).
#
# Environment: FUZZ_QUERIES (default 2000, split between the two roles),
# FUZZ_SECONDS (default 60, a bound on each sqlsmith run), FUZZ_SEED
# (default: fixed seeds, so a run is repeatable).
#
# A long run by hand, from the repository root, after `make install` (as an
# ordinary user, or as root with the server run by "postgres"):
#
#   FUZZ_QUERIES=200000 FUZZ_SECONDS=3600 FUZZ_SEED=$RANDOM PG_GUARD_KEEP=1 \
#       bash test/suites/fuzz.sh
#
# PG_GUARD_KEEP=1 keeps the temp dir (its path is printed) with the server
# log (data/server.log) and sqlsmith's output (sqlsmith-*.log).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/lib.sh
source "$repo/test/lib.sh"

pg_guard_use_installed_pg

FUZZ_QUERIES=${FUZZ_QUERIES:-2000}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

if ! command -v sqlsmith >/dev/null && [[ $EUID -eq 0 ]]; then
	pg_guard_install_packages sqlsmith >&2 || true
fi
if ! command -v sqlsmith >/dev/null; then
	echo "ok - fuzz # SKIP sqlsmith not installed (apt-get install sqlsmith)"
	exit 0
fi

# Our own temp dir inside the runner's (or a fresh one by hand).
if [[ -z ${PG_GUARD_TMP:-} ]]; then
	PG_GUARD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/primary_guard_fuzz.XXXXXX")
	[[ ${PG_GUARD_KEEP:-0} == 1 ]] || trap pg_guard_cleanup EXIT
	[[ $EUID -eq 0 ]] && chown "$PG_GUARD_USER:" "$PG_GUARD_TMP"
else
	dir=$(mktemp -d "$PG_GUARD_TMP/fuzz.XXXXXX")
	trap 'pg_guard_stop_server "$dir/data"' EXIT
	PG_GUARD_TMP=$dir
fi
[[ $EUID -eq 0 ]] && chown "$PG_GUARD_USER:" "$PG_GUARD_TMP"
pg_guard_log "fuzz dir $PG_GUARD_TMP"
data=$PG_GUARD_TMP/data

pg_guard_start_server "$data" "log_min_messages = warning" \
	"statement_timeout = '2s'" "max_connections = 20"

psql_su() { pg_guard_as_user psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

psql_su >/dev/null <<'SQL' || { echo "not ok - fuzz: setup failed"; exit 1; }
CREATE EXTENSION primary_guard;
CREATE TABLE big (id int PRIMARY KEY, grp int, amount numeric, note text, at timestamptz);
INSERT INTO big SELECT g, g % 100, g * 1.5, md5(g::text), '2026-01-01'::timestamptz + g * interval '1 min'
  FROM generate_series(1, 50000) g;
CREATE INDEX ON big (grp);
CREATE TABLE small (id int PRIMARY KEY, big_id int REFERENCES big, label text);
INSERT INTO small SELECT g, g * 7, 'label ' || g FROM generate_series(1, 200) g;
CREATE TABLE events (id bigint, kind text, at date NOT NULL, payload jsonb) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO events SELECT g, 'kind' || (g % 5), '2025-01-01'::date + (g % 700),
       jsonb_build_object('n', g) FROM generate_series(1, 30000) g;
CREATE TABLE parent (id int, v text);
CREATE TABLE child (extra int) INHERITS (parent);
INSERT INTO child SELECT g, 'v' || g, g FROM generate_series(1, 5000) g;
CREATE VIEW big_by_grp AS SELECT grp, count(*) AS n, sum(amount) AS total FROM big GROUP BY grp;
CREATE VIEW small_join AS SELECT s.id, s.label, b.note FROM small s JOIN big b ON b.id = s.big_id;
CREATE MATERIALIZED VIEW events_kinds AS SELECT kind, count(*) FROM events GROUP BY kind;
ANALYZE;
CREATE ROLE fuzz_limited LOGIN;
CREATE ROLE fuzz_denied LOGIN;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO fuzz_limited, fuzz_denied;
GRANT INSERT, UPDATE, DELETE ON small, parent, child TO fuzz_limited;
-- Loose enough for sqlsmith's own catalog queries at startup (a limit
-- policy applies to catalog scans too), tight enough for big and events.
SELECT primary_guard.set_policy('fuzz_limited', 'limit', max_scan_rows => 10000,
       max_cost => 1000000, max_scan_size => '64MB', blocked_commands => '{VACUUM,CLUSTER}',
       note => 'fuzz');
SELECT primary_guard.set_policy('fuzz_denied', 'deny');
SQL

# run_smith ROLE SEED QUERIES: sqlsmith as ROLE; prints how many queries it ran.
run_smith() {
	local role=$1 seed=$2 n=$3 log=$PG_GUARD_TMP/sqlsmith-$1.log
	local target="host=$data port=5432 dbname=postgres user=$role"
	(cd "$PG_GUARD_TMP" && pg_guard_as_user timeout -k 5 "$FUZZ_SECONDS" \
		sqlsmith --target="$target" --seed="$seed" --max-queries="$n" \
		--exclude-catalog --verbose) >"$log" 2>&1
	local rc=$?
	# --verbose prints one character per query and a summary per 1000 queries.
	pg_guard_log "sqlsmith as $role: exit $rc, log $log"
	echo "$rc"
}

half=$((FUZZ_QUERIES / 2))
start=$SECONDS
seed=${FUZZ_SEED:-4242}
queries_before=$(psql_su -At -c "SELECT coalesce(sum(checked), 0) FROM primary_guard.stats")
rc_limited=$(run_smith fuzz_limited "$seed" "$half")
rc_denied=$(run_smith fuzz_denied "$((seed + 1))" "$half")
elapsed=$((SECONDS - start))
checked=$(psql_su -At -c "SELECT coalesce(sum(checked), 0) - $queries_before FROM primary_guard.stats" 2>/dev/null || echo '?')
rejected=$(psql_su -At -c "SELECT coalesce(sum(rejected), 0) FROM primary_guard.stats" 2>/dev/null || echo '?')
pg_guard_log "sqlsmith: $FUZZ_QUERIES queries requested in ${elapsed}s; the guard checked $checked statements and rejected $rejected"

# sqlsmith exits 0 after --max-queries, 124 if the time bound hit first;
# 1 can mean it lost its connection, which the log checks below explain.
for r in limited:$rc_limited denied:$rc_denied; do
	case ${r#*:} in
	0) echo "ok - fuzz: sqlsmith as fuzz_${r%%:*} ran its queries" ;;
	124) echo "ok - fuzz: sqlsmith as fuzz_${r%%:*} ran until the ${FUZZ_SECONDS}s bound" ;;
	*) echo "not ok - fuzz: sqlsmith as fuzz_${r%%:*} exited with ${r#*:} (see $PG_GUARD_TMP/sqlsmith-fuzz_${r%%:*}.log)" ;;
	esac
done

if grep -E 'terminated by signal|server process .* was terminated|PANIC' "$data/server.log" >&2; then
	echo "not ok - fuzz: a backend crashed (server log above)"
else
	echo "ok - fuzz: no backend crashed"
fi

if [[ $(psql_su -At -c 'SELECT 1' 2>/dev/null) == 1 ]]; then
	echo "ok - fuzz: the server is up"
else
	echo "not ok - fuzz: the server is down"
fi

if [[ $checked =~ ^[0-9]+$ && $checked -gt 0 ]]; then
	echo "ok - fuzz: the guard checked $checked random statements ($rejected rejected in all)"
else
	echo "not ok - fuzz: the guard checked no random statement ($checked)"
fi

out=$(pg_guard_as_user psql -X -d postgres -U fuzz_limited -v VERBOSITY=verbose \
	-c 'SELECT count(*) FROM big' 2>&1)
if [[ $out == *'54001: statement rejected on primary server: full scan of "big"'* ]]; then
	echo "ok - fuzz: the guard still rejects a heavy query"
else
	echo "not ok - fuzz: heavy query not rejected after fuzzing: $out"
fi
out=$(pg_guard_as_user psql -X -d postgres -U fuzz_denied -v VERBOSITY=verbose \
	-c 'SELECT id FROM small WHERE id = 1' 2>&1)
if [[ $out == *'42501: statement rejected on primary server: access to "small" is denied'* ]]; then
	echo "ok - fuzz: the deny policy still holds"
else
	echo "not ok - fuzz: deny policy not applied after fuzzing: $out"
fi
pg_guard_stop_server "$data"
