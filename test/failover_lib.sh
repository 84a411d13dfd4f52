# shellcheck shell=bash disable=SC2034  # variables here are read by the callers
# test/failover_lib.sh - the switchover story, told against a real failover
# manager.  Sourced (after test/lib.sh) by test/suites/pg_auto_failover.sh
# and test/suites/patroni.sh; it lives outside test/suites/ because the
# runner runs every script there.
#
# A suite starts its manager, then calls, in this order:
#
#   fo_load_data PORT            on the leader: CREATE EXTENSION, table big
#                                (FO_ROWS rows), analysts/data_team, the policy
#   fo_check_preload NAME PORT   SHOW shared_preload_libraries lists primary_guard
#   fo_session_open PORT         one data_team psql on the replica (a coprocess)
#   fo_session_heavy_allowed     its count(*) runs there
#   fo_inflight_start PORT       a second data_team session starts a guarded
#                                statement that sleeps FO_SLEEP seconds
#   fo_oldside_open PORT         an idle data_team session on the primary
#   ... the manager's switchover ...
#   fo_session_after_switchover  same backend pid, state primary, 54001
#   fo_inflight_check LOGS...    the statement was cancelled by on_promote
#   fo_oldside_check MANAGER     the session on the old primary was ended
#   fo_check_rejoined NAME PORT  the old primary: standby, preload, query allowed
#
# Every assertion prints one "ok - ..." or "not ok - ..." line.  Background
# processes (the managers, etcd) are registered with fo_start_bg and stopped
# by fo_cleanup (the EXIT trap) by pid, in reverse order of starting, then
# any postmaster left in the suite's directory is stopped by its data dir.
#
# Invariants: everything listens on 127.0.0.1 only, on the ports the suite
# picks; every wait is bounded (fo_wait); psql calls carry a connect timeout
# and a timeout of their own.

FO_ROWS=${FO_ROWS:-200000}
FO_LIMIT_ROWS=100000
FO_SLEEP=${FO_SLEEP:-90}
FO_HEAVY='SELECT count(*) FROM big'
FO_PIDS=()
FO_NAME=
FO_DIR=
FO_STARTED=$SECONDS
export PGCONNECT_TIMEOUT=5

fo_log() { printf '==> %s: %s\n' "$FO_NAME" "$*" >&2; }
fo_ok() { echo "ok - $FO_NAME: $*"; }
fo_not_ok() { echo "not ok - $FO_NAME: $*"; }

# fo_check NAME CMD...: ok/not ok line from CMD's status.
fo_check() {
	local name=$1
	shift
	if "$@"; then fo_ok "$name"; else fo_not_ok "$name"; fi
}

# fo_skip_or_install TEST_CMD PACKAGES...: when TEST_CMD fails, root installs
# the packages (one apt-get); if TEST_CMD still fails, print a skip line and
# exit 0.
fo_skip_or_install() {
	local test_cmd=$1
	shift
	if ! eval "$test_cmd" && [[ $EUID -eq 0 ]]; then
		pg_guard_install_packages "$@" >&2 || true
	fi
	if ! eval "$test_cmd"; then
		echo "ok - $FO_NAME # SKIP not installed (as root: apt-get install $*)"
		exit 0
	fi
}

# fo_setup NAME: the suite's temp dir (inside the runner's, or a fresh one
# when run by hand), owned by the test user; fo_cleanup as EXIT trap.
fo_setup() {
	FO_NAME=$1
	if [[ -n ${PG_GUARD_TMP:-} && -d $PG_GUARD_TMP ]]; then
		FO_DIR=$(mktemp -d "$PG_GUARD_TMP/$FO_NAME.XXXXXX")
	else
		FO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/primary_guard_$FO_NAME.XXXXXX")
	fi
	[[ $EUID -eq 0 ]] && chown "$PG_GUARD_USER:" "$FO_DIR"
	chmod 700 "$FO_DIR"
	trap fo_cleanup EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	fo_log "dir $FO_DIR"
}

# fo_as_user CMD...: CMD as the test user, with FO_ENV (NAME=value words).
FO_ENV=()
fo_as_user() { pg_guard_as_user env "${FO_ENV[@]}" "$@"; }

# fo_start_bg LOG CMD...: start CMD in the background as the test user,
# stdin from /dev/null, output to LOG; its pid goes to FO_PIDS.
fo_start_bg() {
	local log=$1
	shift
	if [[ $EUID -eq 0 ]]; then
		runuser -u "$PG_GUARD_USER" -- env PATH="$PATH" PG_CONFIG="$PG_CONFIG" LANG="$LANG" \
			TMPDIR="${TMPDIR:-/tmp}" "${FO_ENV[@]}" "$@" </dev/null >"$log" 2>&1 &
	else
		env "${FO_ENV[@]}" "$@" </dev/null >"$log" 2>&1 &
	fi
	FO_PIDS+=($!)
	fo_log "started pid $! ($1), log $log"
}

# fo_gone PID: true when PID has exited.
fo_gone() { ! kill -0 "$1" 2>/dev/null; }

# fo_stop_pid PID [SECONDS]: SIGTERM, wait up to SECONDS (default 20), SIGKILL.
fo_stop_pid() {
	local pid=$1 limit=$((SECONDS + ${2:-20}))
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		while kill -0 "$pid" 2>/dev/null && [[ $SECONDS -lt $limit ]]; do sleep 0.2; done
		if kill -0 "$pid" 2>/dev/null; then
			fo_log "pid $pid did not stop within ${2:-20}s, killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	wait "$pid" 2>/dev/null || true
}

# fo_cleanup: EXIT trap.  Close the sessions, stop what the suite started
# (reverse order), then every postmaster whose data dir lies in FO_DIR (by
# its postmaster.pid, via pg_ctl), then remove FO_DIR (unless PG_GUARD_KEEP=1).
fo_cleanup() {
	local rc=$? i pidfile
	trap - EXIT TERM INT
	fo_session_close
	[[ -n ${FO_INFLIGHT_PID:-} ]] && fo_stop_pid "$FO_INFLIGHT_PID" 5
	[[ -n ${FO_OLD_FD:-} ]] && { exec {FO_OLD_FD}>&-; } 2>/dev/null
	[[ -n ${FO_OLD_PID:-} ]] && fo_stop_pid "$FO_OLD_PID" 5
	for ((i = ${#FO_PIDS[@]} - 1; i >= 0; i--)); do
		fo_stop_pid "${FO_PIDS[i]}"
	done
	if [[ -n $FO_DIR && -d $FO_DIR ]]; then
		while IFS= read -r pidfile; do
			pg_guard_stop_server "$(dirname "$pidfile")"
		done < <(find "$FO_DIR" -name postmaster.pid 2>/dev/null)
		if [[ ${PG_GUARD_KEEP:-0} == 1 ]]; then
			fo_log "kept $FO_DIR"
		else
			rm -rf "$FO_DIR" 2>/dev/null || true
		fi
	fi
	fo_log "done in $((SECONDS - FO_STARTED))s"
	exit "$rc"
}

# fo_ports_free PORT...: true when nothing listens on 127.0.0.1:PORT.
fo_ports_free() {
	local p
	for p in "$@"; do
		if (: <>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			fo_log "port $p is in use"
			return 1
		fi
	done
}

# fo_wait SECONDS WHAT CMD...: run CMD every half second until it succeeds;
# false (and a log line) after SECONDS.
fo_wait() {
	local secs=$1 limit=$((SECONDS + $1)) what=$2
	shift 2
	until "$@"; do
		if [[ $SECONDS -ge $limit ]]; then
			fo_log "timed out after ${secs}s waiting for: $what"
			return 1
		fi
		sleep 0.5
	done
}

# fo_sql PORT SQL [USER [DB]]: one statement via psql over TCP, unaligned,
# bounded.
fo_sql() {
	fo_as_user timeout -k 5 30 psql -X -At -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" \
		-U "${3:-postgres}" -d "${4:-postgres}" -c "$2"
}

# fo_sql_is PORT SQL EXPECTED [USER [DB]]: true when the result is EXPECTED.
fo_sql_is() { [[ $(fo_sql "$1" "$2" "${4:-postgres}" "${5:-postgres}" 2>/dev/null) == "$3" ]]; }

# fo_load_data PORT: run once on the leader/primary.
fo_load_data() {
	fo_as_user timeout -k 5 120 psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" \
		-U postgres -d postgres >/dev/null <<SQL
CREATE EXTENSION primary_guard;
CREATE TABLE big AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, $FO_ROWS) g;
ALTER TABLE big ADD PRIMARY KEY (id);
ANALYZE big;
CREATE ROLE analysts NOLOGIN;
CREATE ROLE data_team LOGIN IN ROLE analysts;
GRANT SELECT ON big TO analysts;
SELECT primary_guard.set_policy('analysts', 'limit', max_scan_rows => $FO_LIMIT_ROWS,
       note => 'Analytics: use a replica');
SQL
}

# fo_check_preload NAME PORT
fo_check_preload() {
	local libs
	libs=$(fo_sql "$2" 'SHOW shared_preload_libraries' 2>&1)
	if [[ ,${libs// /}, == *,primary_guard,* ]]; then
		fo_ok "$1 preloads primary_guard (shared_preload_libraries = '$libs')"
	else
		fo_not_ok "$1 does not preload primary_guard: $libs"
	fi
}

# fo_wait_replayed PRIMARY_PORT STANDBY_PORT: the standby replayed the
# primary's current WAL position (60 s at most).
fo_wait_replayed() {
	local lsn
	lsn=$(fo_sql "$1" 'SELECT pg_current_wal_lsn()') || return 1
	fo_wait 60 "replay up to $lsn on port $2" \
		fo_sql_is "$2" "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" t
}

# ---- the data_team session: one psql coprocess ---------------------------

FO_SESSION_PID=
FO_SQLSTATE=
FO_OUT=
declare -A FO_VAL

# fo_session_open PORT
fo_session_open() {
	coproc FO_SESSION {
		fo_as_user psql -X -q -v VERBOSITY=verbose -h 127.0.0.1 -p "$1" -U data_team -d postgres 2>&1
	}
	fo_ask 'SELECT pg_backend_pid() AS pid, primary_guard.server_state() AS state \gset' \
		'\echo @@pid :pid' '\echo @@state :state'
}

# fo_ask SQL...: send lines to the session and read until a marker.  Sets
# FO_SQLSTATE (of the last statement), FO_OUT (what psql printed) and
# FO_VAL[name] for "@@name value" lines.  False if the session is gone or
# does not answer within 60 s.
FO_ASK_NO=0
fo_ask() {
	local line
	FO_ASK_NO=$((FO_ASK_NO + 1))
	FO_SQLSTATE=gone FO_OUT=
	FO_VAL=()
	[[ -n ${FO_SESSION[1]:-} ]] || return 1
	# SIGPIPE ignored while writing: a session that died must not kill us.
	# (Not in a subshell: subshells do not get the coprocess' descriptors.)
	local rc=0
	trap '' PIPE
	printf '%s\n' "$@" '\echo @@sqlstate :SQLSTATE' "\\echo @@end $FO_ASK_NO" \
		2>/dev/null 1>&"${FO_SESSION[1]}" || rc=1
	trap - PIPE
	[[ $rc -eq 0 ]] || return 1
	while :; do
		IFS= read -r -t 60 line <&"${FO_SESSION[0]}" || return 1
		case $line in
		"@@end $FO_ASK_NO") return 0 ;;
		@@sqlstate\ *) FO_SQLSTATE=${line#@@sqlstate } ;;
		@@*) line=${line#@@}; FO_VAL[${line%% *}]=${line#* } ;;
		*) FO_OUT+=$line$'\n' ;;
		esac
	done
}

fo_session_close() {
	local fd=${FO_SESSION[1]:-}
	if [[ -n $fd ]]; then
		{ exec {fd}>&-; } 2>/dev/null
	fi
	if [[ -n ${FO_SESSION_PID:-} ]]; then
		fo_stop_pid "$FO_SESSION_PID" 5
		FO_SESSION_PID=
	fi
	return 0
}

FO_PID_BEFORE=
# fo_session_heavy_allowed: on the replica, the session's count(*) runs.
fo_session_heavy_allowed() {
	FO_PID_BEFORE=${FO_VAL[pid]:-}
	if [[ -n $FO_PID_BEFORE && ${FO_VAL[state]:-} == standby ]]; then
		fo_ok "data_team session open on the replica (backend pid $FO_PID_BEFORE, server_state standby)"
	else
		fo_not_ok "data_team session on the replica: pid '${FO_PID_BEFORE}', state '${FO_VAL[state]:-}' ${FO_OUT}"
	fi
	fo_ask "$FO_HEAVY;"
	if [[ $FO_SQLSTATE == 00000 && $FO_OUT == *"$FO_ROWS"* ]]; then
		fo_ok "its heavy count(*) runs on the replica ($FO_ROWS rows, above the primary limit of $FO_LIMIT_ROWS)"
	else
		fo_not_ok "heavy count(*) on the replica: SQLSTATE $FO_SQLSTATE: $FO_OUT"
	fi
}

# fo_session_after_switchover PORT: the same session, now on the new
# primary (PORT); if it is gone, a reconnected one is tested and the loss
# is a failure of its own.
fo_session_after_switchover() {
	fo_ask 'SELECT pg_backend_pid() AS pid, primary_guard.server_state() AS state \gset' \
		'\echo @@pid :pid' '\echo @@state :state'
	local pid=${FO_VAL[pid]:-}
	if [[ -n $pid && $pid == "$FO_PID_BEFORE" ]]; then
		fo_ok "the data_team session survived the switchover (same backend pid $pid)"
	else
		fo_not_ok "the data_team session did not survive the switchover (pid before $FO_PID_BEFORE, now '${pid}'): ${FO_OUT}"
		fo_session_close
		fo_session_open "$1"
		fo_log "reconnected: backend pid ${FO_VAL[pid]:-none}"
	fi
	if [[ ${FO_VAL[state]:-} == primary ]]; then
		fo_ok "server_state() in that session says primary"
	else
		fo_not_ok "server_state() in that session: '${FO_VAL[state]:-}' ${FO_OUT}"
	fi
	fo_ask "$FO_HEAVY;"
	if [[ $FO_SQLSTATE == 54001 && $FO_OUT == *'statement rejected on primary server: full scan of "big" is too large'* ]]; then
		fo_ok "the same count(*) in that session is rejected on the new primary with 54001"
	else
		fo_not_ok "count(*) on the new primary: SQLSTATE $FO_SQLSTATE: $FO_OUT"
	fi
	fo_ask 'SELECT v FROM big WHERE id = 4242;'
	if [[ $FO_SQLSTATE == 00000 && $FO_OUT == *"$(printf '%s' 4242 | md5sum | cut -c1-32)"* ]]; then
		fo_ok "a point query in that session still runs on the new primary"
	else
		fo_not_ok "point query on the new primary: SQLSTATE $FO_SQLSTATE: $FO_OUT"
	fi
}

# ---- a guarded statement in flight at the switchover ----------------------

FO_INFLIGHT_PID=
FO_INFLIGHT_OUT=
FO_INFLIGHT_T0=
FO_INFLIGHT_SQL="SELECT 'finished' FROM (SELECT pg_sleep($FO_SLEEP) FROM big LIMIT 1) s"

# fo_inflight_start PORT: a data_team statement that fully scans big and
# sleeps; admitted on the replica, it would be rejected on a primary.
fo_inflight_start() {
	FO_INFLIGHT_OUT=$FO_DIR/inflight.out
	fo_as_user psql -X -At -v VERBOSITY=verbose -h 127.0.0.1 -p "$1" -U data_team -d postgres \
		-c "$FO_INFLIGHT_SQL" </dev/null >"$FO_INFLIGHT_OUT" 2>&1 &
	FO_INFLIGHT_PID=$!
	FO_INFLIGHT_T0=$SECONDS
	if fo_wait 20 "the in-flight statement to run" fo_sql_is "$1" \
		"SELECT count(*) FROM pg_stat_activity WHERE usename = 'data_team' AND state = 'active' AND query LIKE 'SELECT ''finished''%'" 1; then
		fo_ok "a guarded statement (full scan of big, then pg_sleep($FO_SLEEP)) is running on the replica"
	else
		fo_not_ok "the guarded in-flight statement did not start: $(cat "$FO_INFLIGHT_OUT")"
	fi
}

# fo_inflight_check SWITCHOVER_SECONDS LOGFILE...: the statement ended with
# 57014 well before its pg_sleep would have, and a server log says
# primary_guard cancelled it.
fo_inflight_check() {
	local took=$1 ran
	shift
	if ! fo_wait 20 "the in-flight statement to end" fo_gone "$FO_INFLIGHT_PID"; then
		fo_stop_pid "$FO_INFLIGHT_PID" 5
	fi
	wait "$FO_INFLIGHT_PID" 2>/dev/null
	FO_INFLIGHT_PID=
	ran=$((SECONDS - FO_INFLIGHT_T0))
	if grep -q '57014: canceling statement due to user request' "$FO_INFLIGHT_OUT" && [[ $ran -lt $FO_SLEEP ]]; then
		fo_ok "the in-flight guarded statement was cancelled with 57014 at promotion (after ${ran}s of its ${FO_SLEEP}s; the switchover took ${took}s)"
	else
		fo_not_ok "the in-flight guarded statement was not cancelled (ran ${ran}s): $(cat "$FO_INFLIGHT_OUT")"
	fi
	if cat "$@" 2>/dev/null | grep -q 'primary_guard: server promoted, canceling the statement of backend [0-9]* (role "data_team")'; then
		fo_ok "the new primary's log says primary_guard cancelled it (role data_team)"
	else
		fo_not_ok "no primary_guard cancel line in the new primary's log ($*)"
	fi
}

# ---- an idle data_team session on the old primary --------------------------

FO_OLD_PID=
FO_OLD_FD=
FO_OLD_OUT=

# fo_oldside_open PORT: a psql fed through a fifo, left idle on the primary.
fo_oldside_open() {
	local fifo=$FO_DIR/old_primary_session.in
	FO_OLD_OUT=$FO_DIR/old_primary_session.out
	mkfifo "$fifo"
	fo_as_user psql -X -At -h 127.0.0.1 -p "$1" -U data_team -d postgres \
		<"$fifo" >"$FO_OLD_OUT" 2>&1 &
	FO_OLD_PID=$!
	exec {FO_OLD_FD}>"$fifo"
	echo "SELECT 'pid=' || pg_backend_pid();" >&"$FO_OLD_FD"
	if fo_wait 10 "the session on the old primary" grep -q '^pid=' "$FO_OLD_OUT"; then
		fo_ok "an idle data_team session is open on the primary ($(grep '^pid=' "$FO_OLD_OUT"))"
	else
		fo_not_ok "no data_team session on the primary: $(cat "$FO_OLD_OUT")"
	fi
}

# fo_oldside_check MANAGER: after the switchover, that session's next
# statement finds its connection gone: the manager restarted the old
# primary to make it a standby.
fo_oldside_check() {
	trap '' PIPE
	echo "SELECT 'pid=' || pg_backend_pid();" 2>/dev/null 1>&"$FO_OLD_FD"
	trap - PIPE
	{ exec {FO_OLD_FD}>&-; } 2>/dev/null
	FO_OLD_FD=
	fo_wait 10 "the old primary's session to end" fo_gone "$FO_OLD_PID"
	fo_stop_pid "$FO_OLD_PID" 5
	FO_OLD_PID=
	if grep -q 'connection to server was lost' "$FO_OLD_OUT" && [[ $(grep -c '^pid=' "$FO_OLD_OUT") -eq 1 ]]; then
		fo_ok "$1 ended the idle data_team session on the old primary when it demoted it (a new session is tested below)"
	else
		fo_not_ok "the idle session on the old primary: $(cat "$FO_OLD_OUT")"
	fi
}

# fo_check_rejoined NAME PORT: NAME (the old primary) is a streaming
# standby again, preloads the library, and data_team's count(*) runs there.
fo_check_rejoined() {
	if fo_sql_is "$2" 'SELECT pg_is_in_recovery()' t; then
		fo_ok "$1 (the old primary) rejoined as a standby"
	else
		fo_not_ok "$1 (the old primary) is not a standby: $(fo_sql "$2" 'SELECT pg_is_in_recovery()' 2>&1)"
	fi
	fo_check_preload "$1 (rejoined)" "$2"
	local out
	out=$(fo_sql "$2" "$FO_HEAVY" data_team 2>&1)
	if [[ $out == "$FO_ROWS" ]]; then
		fo_ok "data_team's count(*) is allowed again on $1, now a standby"
	else
		fo_not_ok "data_team's count(*) on $1 (standby): $out"
	fi
}
