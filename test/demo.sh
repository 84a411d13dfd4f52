#!/usr/bin/env bash
# shellcheck disable=SC2119  # pg_guard_install_packages takes optional extras
# test/demo.sh - what `make demo` runs: the switchover incident, replayed.
#
# Builds and installs primary_guard (installing the Debian packages first
# when run as root, like `make test`), then, as an ordinary user (postgres
# when run as root) and entirely inside one temp dir:
#
#   - starts a primary and a streaming hot standby on 127.0.0.1, each on a
#     free port of its own (initdb, pg_basebackup -R, pg_ctl);
#   - loads money_transactions (1,000,000 rows), creates analysts/data_team
#     and the policy "analysts may not fully scan more than 100000 rows on a
#     primary";
#   - opens ONE psql session as data_team on the standby (a coprocess: the
#     same backend before and after the promotion, checked by its pid), runs
#     the heavy count(*), promotes the standby while the session stays open,
#     and runs the same query again in the same session: it must be rejected
#     with SQLSTATE 54001;
#   - shows effective_policy() and check_query(), stops both servers (by
#     their own data directories) and removes the temp dir, on success and on
#     failure alike.
#
# Exit status: 0 when the story happened as told, 1 otherwise.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=test/lib.sh
source "$repo/test/lib.sh"
for f in pg_guard_install_packages pg_guard_prepare pg_guard_build pg_guard_install \
	pg_guard_as_user pg_guard_cleanup; do
	declare -F "$f" >/dev/null || { echo "test/lib.sh does not define $f" >&2; exit 1; }
done

ROWS=1000000
LIMIT_ROWS=100000
NOTE='Analytics replica: analytics-db.internal:5432'
HEAVY='SELECT count(*) FROM money_transactions'
started=$EPOCHREALTIME
step_no=0

step() {
	step_no=$((step_no + 1))
	printf '\n== %d. %s\n' "$step_no" "$*"
}
say() { printf '   %s\n' "$*"; }
fail() {
	printf '\nDEMO FAILED: %s\n' "$*" >&2
	exit 1
}

# Milliseconds between two $EPOCHREALTIME values, one decimal.
elapsed_ms() {
	local us=$((${2/./} - ${1/./}))
	printf '%d.%d ms' $((us / 1000)) $((us % 1000 / 100))
}

# ---------------------------------------------------------------------------
step "Build and install primary_guard"
pg_guard_install_packages
pg_guard_prepare "$repo" 2>/dev/null
if ! pg_guard_build >"$PG_GUARD_TMP/demo-build.log" 2>&1; then
	tail -n 30 "$PG_GUARD_TMP/demo-build.log"
	fail "the build failed"
fi
pg_guard_install 2>/dev/null
cd "$PG_GUARD_TMP"
say "built in a copy of the tree, installed for $("$PG_CONFIG" --version)"

DEMO=$PG_GUARD_TMP/demo
PRIMARY=$DEMO/primary
STANDBY=$DEMO/standby
DT_PID=

# End of input ends the data_team psql.
close_session_input() {
	local fd=${DT[1]:-}
	[[ -n $fd ]] && exec {fd}>&-
	return 0
}

# Close the data_team session (EOF ends psql), then stop the servers found
# under the temp dir by their postmaster.pid and delete it (test/lib.sh).
demo_cleanup() {
	local rc=$?
	if [[ -n ${DT_PID:-} ]]; then
		close_session_input
		kill "$DT_PID" 2>/dev/null || true
		wait "$DT_PID" 2>/dev/null || true
	fi
	pg_guard_cleanup
	exit "$rc"
}
trap demo_cleanup EXIT

# A free TCP port on 127.0.0.1 (nothing answers on it), other than $1.
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		[[ $p != "${1:-}" ]] || continue
		if ! (: <>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	fail "no free port on 127.0.0.1"
}

as_user() { pg_guard_as_user "$@"; }
sql_at() {
	local port=$1
	shift
	as_user psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}
# Indent what psql prints so the narration stays readable.
show() { sed 's/^/   | /'; }

# ---------------------------------------------------------------------------
step "Start a primary and a streaming hot standby on 127.0.0.1"
PRIMARY_PORT=$(free_port)
STANDBY_PORT=$(free_port "$PRIMARY_PORT")
as_user mkdir -p "$DEMO"
as_user initdb -D "$PRIMARY" -A trust -U postgres >"$DEMO/initdb.log" 2>&1 ||
	fail "initdb failed: $(tail -n 5 "$DEMO/initdb.log")"
cat >>"$PRIMARY/postgresql.conf" <<EOF

# primary_guard demo
shared_preload_libraries = 'primary_guard'
listen_addresses = '127.0.0.1'
port = $PRIMARY_PORT
unix_socket_directories = ''
fsync = off                  # a throwaway demo cluster
EOF
as_user pg_ctl -D "$PRIMARY" -l "$DEMO/primary.log" -w start >/dev/null ||
	fail "the primary did not start: $(tail -n 5 "$DEMO/primary.log")"
sql_at "$PRIMARY_PORT" -c 'CREATE EXTENSION primary_guard' ||
	fail "CREATE EXTENSION failed"
say "primary: port $PRIMARY_PORT, shared_preload_libraries = 'primary_guard'"

as_user pg_basebackup -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$STANDBY" \
	-R -X stream -c fast >"$DEMO/basebackup.log" 2>&1 ||
	fail "pg_basebackup failed: $(tail -n 5 "$DEMO/basebackup.log")"
echo "port = $STANDBY_PORT" >>"$STANDBY/postgresql.conf"
as_user pg_ctl -D "$STANDBY" -l "$DEMO/standby.log" -w start >/dev/null ||
	fail "the standby did not start: $(tail -n 5 "$DEMO/standby.log")"
say "standby: port $STANDBY_PORT, made with pg_basebackup -R (streaming, hot standby)"

# Wait until the standby has replayed everything the primary has written.
wait_for_replay() {
	local lsn
	lsn=$(sql_at "$PRIMARY_PORT" -At -c 'SELECT pg_current_wal_lsn()')
	for _ in $(seq 1 600); do
		[[ $(sql_at "$STANDBY_PORT" -At -c \
			"SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn") == t ]] && return 0
		sleep 0.1
	done
	fail "the standby did not replay up to $lsn within 60 s"
}

# ---------------------------------------------------------------------------
step "Load money_transactions ($ROWS rows) on the primary and ANALYZE"
t0=$EPOCHREALTIME
sql_at "$PRIMARY_PORT" <<EOF || fail "loading money_transactions failed"
CREATE TABLE money_transactions (
    id         bigint PRIMARY KEY,
    account_id int NOT NULL,
    amount     numeric(12,2) NOT NULL,
    booked_at  timestamptz NOT NULL);
INSERT INTO money_transactions
    SELECT g, 1 + g % 50000, round((random() * 1000)::numeric, 2),
           timestamptz '2025-01-01' + g * interval '30 seconds'
      FROM generate_series(1, $ROWS) g;
ANALYZE money_transactions;
EOF
wait_for_replay
say "loaded, analyzed and replayed on the standby in $(elapsed_ms "$t0" "$EPOCHREALTIME")"
sql_at "$STANDBY_PORT" -c "SELECT relname, reltuples::bigint AS estimated_rows,
        pg_size_pretty(pg_relation_size(oid)) AS size
   FROM pg_class WHERE relname = 'money_transactions'" | show

# ---------------------------------------------------------------------------
step "Roles analysts and data_team, and the policy (set on the primary)"
setup_sql="CREATE ROLE analysts NOLOGIN;
CREATE ROLE data_team LOGIN IN ROLE analysts;
GRANT SELECT ON money_transactions TO analysts;
SELECT primary_guard.set_policy('analysts', 'limit', max_scan_rows => $LIMIT_ROWS,
    note => '$NOTE');"
show <<<"$setup_sql"
sql_at "$PRIMARY_PORT" -o /dev/null <<<"$setup_sql" || fail "creating roles and the policy failed"
wait_for_replay
say "primary_guard.policies, read on the standby (it replicated):"
sql_at "$STANDBY_PORT" -c 'SELECT role, server_state, action, max_scan_rows, note
                             FROM primary_guard.policies' | show

# ---------------------------------------------------------------------------
# The data_team session: one psql process, fed through a coprocess.
# ask SQL... sends the lines, then markers; prints what psql answers
# (indented), sets LAST_SQLSTATE, LAST_MS and the @@name values it echoes.
declare -A VAL
LAST_SQLSTATE=
LAST_MS=
ask_no=0
ask() {
	local line t0
	ask_no=$((ask_no + 1))
	t0=$EPOCHREALTIME
	printf '%s\n' "$@" '\echo @@sqlstate :SQLSTATE' "\\echo @@end $ask_no" >&"${DT[1]}"
	while :; do
		IFS= read -r -t 60 line <&"${DT[0]}" ||
			fail "the data_team session ended or stopped answering"
		case $line in
		"@@end $ask_no") break ;;
		@@sqlstate\ *) LAST_SQLSTATE=${line#@@sqlstate } ;;
		@@*) line=${line#@@}; VAL[${line%% *}]=${line#* } ;;
		*) printf '   | %s\n' "$line" ;;
		esac
	done
	LAST_MS=$(elapsed_ms "$t0" "$EPOCHREALTIME")
}

step "data_team opens ONE session on the standby"
coproc DT { pg_guard_as_user psql -X -q -h 127.0.0.1 -p "$STANDBY_PORT" -U data_team -d postgres 2>&1; }
ask 'SELECT pg_backend_pid() AS pid, primary_guard.server_state() AS state \gset' \
	'\echo @@pid :pid' '\echo @@state :state'
PID_BEFORE=${VAL[pid]:-}
[[ -n $PID_BEFORE && $LAST_SQLSTATE == 00000 ]] || fail "could not open the data_team session"
say "one psql process, kept open; backend pid $PID_BEFORE, server_state() = '${VAL[state]}'"
[[ ${VAL[state]} == standby ]] || fail "the session is not on a standby"

# ---------------------------------------------------------------------------
step "Heavy analytics on the standby: $HEAVY"
ask "$HEAVY;"
[[ $LAST_SQLSTATE == 00000 ]] || fail "the heavy query failed on the standby"
say "succeeded in $LAST_MS: the primary policy does not apply on a standby"
STANDBY_MS=$LAST_MS

# ---------------------------------------------------------------------------
step "Switchover: stop the old primary, pg_ctl promote the standby (session stays open)"
as_user pg_ctl -D "$PRIMARY" -m fast -w stop >/dev/null || fail "could not stop the old primary"
say "old primary stopped"
as_user pg_ctl -D "$STANDBY" -w promote >/dev/null || fail "pg_ctl promote failed"
say "standby promoted: port $STANDBY_PORT is now the primary"

# ---------------------------------------------------------------------------
step "Same session, same query, now on the primary"
ask 'SELECT pg_backend_pid() AS pid, primary_guard.server_state() AS state \gset' \
	'\echo @@pid :pid' '\echo @@state :state'
PID_AFTER=${VAL[pid]:-}
say "backend pid $PID_AFTER (before the promotion: $PID_BEFORE), server_state() = '${VAL[state]}'"
[[ $PID_AFTER == "$PID_BEFORE" ]] || fail "the session did not survive the promotion"
[[ ${VAL[state]} == primary ]] || fail "server_state() does not say primary after promotion"
say "$HEAVY;"
ask "$HEAVY;"
[[ $LAST_SQLSTATE == 54001 ]] ||
	fail "the heavy query was not rejected on the new primary (SQLSTATE $LAST_SQLSTATE)"
say "rejected with SQLSTATE $LAST_SQLSTATE in $LAST_MS (it ran in $STANDBY_MS on the standby):"
say "the planner's estimate was enough, not a page of money_transactions was read"
say "a point query in the same session still runs:"
ask 'SELECT id, account_id, amount FROM money_transactions WHERE id = 424242;'
[[ $LAST_SQLSTATE == 00000 ]] || fail "the point query was rejected"

# ---------------------------------------------------------------------------
step "What the session can find out: effective_policy() and check_query()"
say "effective_policy():"
ask '\x on' 'SELECT * FROM primary_guard.effective_policy();' '\x off'
say "check_query('$HEAVY'):"
ask '\x on' "SELECT verdict, reason FROM primary_guard.check_query('$HEAVY');" '\x off'
ask "SELECT verdict AS verdict FROM primary_guard.check_query('$HEAVY') \\gset" \
	'\echo @@verdict :verdict'
[[ ${VAL[verdict]} == reject ]] || fail "check_query() does not predict the rejection"
say "check_query('SELECT amount FROM money_transactions WHERE id = 424242'):"
ask '\x on' "SELECT verdict, reason FROM primary_guard.check_query(
         'SELECT amount FROM money_transactions WHERE id = 424242');" '\x off'

# ---------------------------------------------------------------------------
step "Stop the servers and remove the temp dir"
close_session_input
wait "$DT_PID" 2>/dev/null || true
DT_PID=
as_user pg_ctl -D "$STANDBY" -m fast -w stop >/dev/null
say "data_team session closed, servers stopped"

total_us=$((${EPOCHREALTIME/./} - ${started/./}))
printf '\nThe story happened as told (%d s): the same data_team session (backend pid %s)\n' \
	$((total_us / 1000000)) "$PID_BEFORE"
printf 'ran the full scan on the standby and was refused it on the primary after promotion.\n'
