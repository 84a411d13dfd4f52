#!/usr/bin/env bash
# versions: 15 18
# test/suites/churn.sh - policies flipping under load.
#
# A throwaway server (test/lib.sh); one loop flips policies for ~CHURN_SECONDS
# (set_policy limit / allow / deny, drop_policy, a group's policy and the
# role's membership in it, each change committed on its own) while pgbench
# clients run guarded statements (top level and nested in DO blocks) and
# unguarded ones.  Then: no backend crashed (server log), pgbench aborted
# no client, and a committed policy is applied by the next statement of
# every session: a psql session that stayed open through the churn and
# several new ones.  Prints "ok - ..." / "not ok - ..." lines for
# test/run_tests.sh.
#
# Environment: CHURN_SECONDS (default 15), CHURN_CLIENTS (default 4).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/lib.sh
source "$repo/test/lib.sh"

pg_guard_use_installed_pg
CHURN_SECONDS=${CHURN_SECONDS:-15}
CHURN_CLIENTS=${CHURN_CLIENTS:-4}

if [[ -z ${PG_GUARD_TMP:-} ]]; then
	PG_GUARD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/primary_guard_churn.XXXXXX")
	[[ ${PG_GUARD_KEEP:-0} == 1 ]] || trap pg_guard_cleanup EXIT
else
	dir=$(mktemp -d "$PG_GUARD_TMP/churn.XXXXXX")
	trap 'pg_guard_stop_server "$dir/data"' EXIT
	PG_GUARD_TMP=$dir
fi
[[ $EUID -eq 0 ]] && chown "$PG_GUARD_USER:" "$PG_GUARD_TMP"
pg_guard_log "churn dir $PG_GUARD_TMP"
data=$PG_GUARD_TMP/data
work=$PG_GUARD_TMP

pg_guard_start_server "$data" "max_connections = 40"
psql_su() { pg_guard_as_user psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

psql_su >/dev/null <<'SQL' || { echo "not ok - churn: setup failed"; exit 1; }
CREATE EXTENSION primary_guard;
CREATE TABLE big (id int PRIMARY KEY, v text);
INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 50000) g;
ANALYZE big;
CREATE ROLE churn_group;
CREATE ROLE churn_guarded LOGIN;
CREATE ROLE churn_free LOGIN;
GRANT SELECT ON big TO churn_group, churn_guarded, churn_free;
SQL

# Guarded clients: catalog queries at top level (allowed under every
# policy), a point query and heavy ones nested in DO blocks that swallow the
# guard's rejections (pgbench would abort the client on an error), so every
# transaction commits whatever the policy of the moment.
cat >"$work/guarded.sql" <<'SQL'
\set id random(1, 50000)
SELECT relname FROM pg_class WHERE oid = 1259;
DO $$BEGIN PERFORM v FROM big WHERE id = :id; EXCEPTION WHEN insufficient_privilege THEN NULL; END$$;
DO $$BEGIN PERFORM count(*) FROM big; EXCEPTION WHEN statement_too_complex OR insufficient_privilege THEN NULL; END$$;
BEGIN;
SELECT pg_is_in_recovery();
DO $$BEGIN PERFORM count(*) FROM big WHERE v = 'x'; EXCEPTION WHEN statement_too_complex OR insufficient_privilege THEN NULL; END$$;
END;
SQL
cat >"$work/free.sql" <<'SQL'
\set id random(1, 50000)
SELECT v FROM big WHERE id = :id;
SELECT count(*) FROM big WHERE id < :id;
SQL
[[ $EUID -eq 0 ]] && chown "$PG_GUARD_USER:" "$work"/*.sql

# The long-lived session: a psql fed through a fifo, open before the churn.
mkfifo "$work/session.in"
[[ $EUID -eq 0 ]] && chown "$PG_GUARD_USER:" "$work/session.in"
pg_guard_as_user psql -X -d postgres -U churn_guarded -v VERBOSITY=verbose \
	<"$work/session.in" >"$work/session.out" 2>&1 &
session_pid=$!
exec 3>"$work/session.in"
echo "SELECT 'pid=' || pg_backend_pid();" >&3

# The churn: each change commits on its own (COMMIT inside DO).
churn_sql="DO \$\$
DECLARE
  deadline timestamptz := clock_timestamp() + interval '$CHURN_SECONDS seconds';
  n int := 0;
BEGIN
  WHILE clock_timestamp() < deadline LOOP
    CASE n % 6
      WHEN 0 THEN PERFORM primary_guard.set_policy('churn_guarded', 'limit', max_scan_rows => 1000);
      WHEN 1 THEN PERFORM primary_guard.set_policy('churn_guarded', 'allow');
      WHEN 2 THEN PERFORM primary_guard.drop_policy('churn_guarded');
      WHEN 3 THEN PERFORM primary_guard.set_policy('churn_group', 'deny');
      WHEN 4 THEN EXECUTE CASE WHEN n % 12 = 4 THEN 'GRANT churn_group TO churn_guarded'
                                ELSE 'REVOKE churn_group FROM churn_guarded' END;
      ELSE PERFORM primary_guard.drop_policy('churn_group');
    END CASE;
    COMMIT;
    n := n + 1;
    PERFORM pg_sleep(0.005);
  END LOOP;
  RAISE NOTICE 'changes=%', n;
END\$\$;"

start=$SECONDS
psql_su -c "$churn_sql" >"$work/churn.out" 2>&1 &
churn_pid=$!
pg_guard_as_user pgbench -n -T "$CHURN_SECONDS" -c "$CHURN_CLIENTS" -j 2 -U churn_guarded \
	-f "$work/guarded.sql" postgres >"$work/pgbench-guarded.out" 2>&1 &
bench_guarded=$!
pg_guard_as_user pgbench -n -T "$CHURN_SECONDS" -c 2 -j 1 -U churn_free \
	-f "$work/free.sql" postgres >"$work/pgbench-free.out" 2>&1 &
bench_free=$!
echo "SELECT 'mid-churn';" >&3

wait "$churn_pid"
rc_churn=$?
wait "$bench_guarded"
rc_guarded=$?
wait "$bench_free"
rc_free=$?
changes=$(sed -n 's/.*NOTICE:  changes=\([0-9]*\).*/\1/p' "$work/churn.out")
txg=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench-guarded.out")
txf=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench-free.out")
pg_guard_log "churn: ${changes:-?} committed policy/membership changes in $((SECONDS - start))s; pgbench: ${txg:-?} guarded and ${txf:-?} unguarded transactions"

if [[ $rc_churn -eq 0 && -n $changes && $changes -gt 0 ]]; then
	echo "ok - churn: $changes policy and membership changes committed"
else
	echo "not ok - churn: the churn loop failed: $(tail -n 5 "$work/churn.out")"
fi
for b in guarded:$rc_guarded free:$rc_free; do
	f=$work/pgbench-${b%%:*}.out
	if [[ ${b#*:} -eq 0 ]] && ! grep -qi 'aborted\|error' "$f"; then
		echo "ok - churn: pgbench ${b%%:*} clients ran without an error or abort"
	else
		echo "not ok - churn: pgbench ${b%%:*} exited ${b#*:}: $(grep -i 'aborted\|error' "$f" | head -n 3)"
	fi
done
if grep -E 'terminated by signal|server process .* was terminated|PANIC' "$data/server.log" >&2; then
	echo "not ok - churn: a backend crashed (server log above)"
else
	echo "ok - churn: no backend crashed"
fi

# After the churn: one committed policy, seen by the next statement of
# every session.
psql_su -c "REVOKE churn_group FROM churn_guarded; TRUNCATE primary_guard.policy;
            SELECT primary_guard.set_policy('churn_guarded', 'limit', max_scan_rows => 1000)" >/dev/null 2>&1
echo "SELECT count(*) FROM big;" >&3
echo "SELECT 'pid=' || pg_backend_pid();" >&3
exec 3>&-
wait "$session_pid"
pids=$(grep -o 'pid=[0-9]*' "$work/session.out" | sort -u | wc -l)
if grep -q '54001: statement rejected on primary server: full scan of "big"' "$work/session.out" &&
	grep -q 'mid-churn' "$work/session.out" && [[ $pids -eq 1 ]]; then
	echo "ok - churn: the session open through the churn applies the final policy to its next statement"
else
	echo "not ok - churn: long-lived session: $(tail -n 8 "$work/session.out")"
fi
fresh_ok=0
for i in 1 2 3; do
	out=$(pg_guard_as_user psql -X -d postgres -U churn_guarded -v VERBOSITY=verbose \
		-c 'SELECT count(*) FROM big' 2>&1)
	[[ $out == *'54001: statement rejected on primary server: full scan of "big"'* ]] &&
		fresh_ok=$((fresh_ok + 1))
done
if [[ $fresh_ok -eq 3 ]]; then
	echo "ok - churn: three new sessions apply the final policy"
else
	echo "not ok - churn: only $fresh_ok of 3 new sessions rejected the heavy query"
fi
out=$(pg_guard_as_user psql -X -At -d postgres -U churn_free -c 'SELECT count(*) FROM big' 2>&1)
if [[ $out == 50000 ]]; then
	echo "ok - churn: the unguarded role is unaffected"
else
	echo "not ok - churn: unguarded role: $out"
fi
pg_guard_stop_server "$data"
