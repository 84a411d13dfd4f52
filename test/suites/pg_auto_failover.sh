#!/usr/bin/env bash
# test/suites/pg_auto_failover.sh - the switchover story under pg_auto_failover.
#
# Starts, on 127.0.0.1, a pg_auto_failover monitor and two nodes with
# Debian's pg_autoctl (postgresql-15-auto-failover, pg-auto-failover-cli),
# primary_guard preloaded by the README's recipe (a shared_preload_libraries
# line in postgresql.conf, after pg_autoctl's include, on the first node;
# the second node gets it with pg_basebackup), then:
#
#   - the preload on both nodes; CREATE EXTENSION and the policy once on
#     the primary (test/failover_lib.sh);
#   - a data_team session on the secondary runs its count(*); another runs
#     a guarded statement that is still running when
#   - `pg_autoctl perform switchover` promotes the secondary;
#   - the same session (same backend pid) is rejected with 54001 on the new
#     primary; the statement in flight is cancelled (on_promote = cancel);
#   - the old primary rejoins as a secondary, with the preload, and allows
#     the count(*) again.
#
# Prints "ok - ..." / "not ok - ..." lines for test/run_tests.sh; without
# pg_autoctl (and not root, which installs it) one "ok - ... # SKIP" line.
# Ports PGAF_PORT (default 56310) .. PGAF_PORT+2: monitor, node1, node2.
# Stops everything it started (fo_cleanup), also on failure or timeout.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/lib.sh
source "$repo/test/lib.sh"
# shellcheck source=test/failover_lib.sh
source "$repo/test/failover_lib.sh"

pg_guard_use_installed_pg
FO_NAME=pg_auto_failover
sharedir=$("$PG_CONFIG" --sharedir)
fo_skip_or_install \
	"command -v pg_autoctl >/dev/null && [[ -f $sharedir/extension/pgautofailover.control ]]" \
	"postgresql-$PG_GUARD_PGVERSION-auto-failover" pg-auto-failover-cli

base=${PGAF_PORT:-56310}
monitor_port=$base node1_port=$((base + 1)) node2_port=$((base + 2))
if ! fo_ports_free "$monitor_port" "$node1_port" "$node2_port"; then
	fo_not_ok "ports $monitor_port-$node2_port on 127.0.0.1 are not free"
	exit 1
fi

fo_setup pg_auto_failover
dir=$FO_DIR
sock=$dir/sock
bindir=$("$PG_CONFIG" --bindir)
monitor=$dir/monitor node1=$dir/node1 node2=$dir/node2
monitor_uri="postgres://autoctl_node@127.0.0.1:$monitor_port/pg_auto_failover?sslmode=disable"
# pg_autoctl keeps its configuration and state under XDG_*; PGHOST is where
# it finds its own postgres' socket.
FO_ENV=(HOME="$dir" XDG_CONFIG_HOME="$dir/config" XDG_DATA_HOME="$dir/share"
	XDG_RUNTIME_DIR="$dir/run" PGHOST="$sock")
fo_as_user mkdir -m 700 -p "$sock" "$dir/run"

# Test environment only (not part of the recipe): sockets in our dir, and
# small shared_buffers instead of pg_autoctl's quarter of the RAM for each
# of three servers.  initdb by hand only to put those lines in first.
env_conf() {
	fo_as_user initdb -D "$1" -A trust -U postgres >"$dir/initdb-$(basename "$1").log" 2>&1 &&
		printf '%s\n' "# test environment" "unix_socket_directories = '$sock'" \
			"shared_buffers = 128MB" "fsync = off" |
		fo_as_user tee -a "$1/postgresql.conf" >/dev/null
}

autoctl() { fo_as_user timeout -k 5 "$1" pg_autoctl "${@:2}"; }
common=(--listen 127.0.0.1 --hostname 127.0.0.1 --auth trust --no-ssl --pgctl "$bindir/pg_ctl")

# states: "name:reported/goal ..." of every node, as the monitor sees them.
states() {
	fo_sql "$monitor_port" "SELECT string_agg(nodename || ':' || reportedstate || '/' || goalstate, ' '
	                          ORDER BY nodename) FROM pgautofailover.node" postgres pg_auto_failover 2>/dev/null
}
states_are() { [[ $(states) == "$1" ]]; }

t_setup=$SECONDS
# ---- monitor ----------------------------------------------------------------
if ! env_conf "$monitor" ||
	! autoctl 60 create monitor --pgdata "$monitor" --pgport "$monitor_port" "${common[@]}" \
		>"$dir/create-monitor.log" 2>&1; then
	cat "$dir/create-monitor.log" >&2
	fo_not_ok "pg_autoctl create monitor failed"
	exit 1
fi
fo_start_bg "$dir/monitor.log" pg_autoctl run --pgdata "$monitor"
fo_wait 30 "the monitor" fo_sql_is "$monitor_port" 'SELECT count(*) > 0 FROM pgautofailover.formation' t \
	postgres pg_auto_failover ||
	{ tail -n 20 "$dir/monitor.log" >&2; fo_not_ok "the monitor did not start"; exit 1; }

# ---- node1: the first node, primary ---------------------------------------
# The recipe: after `pg_autoctl create postgres`, before `pg_autoctl run`,
# add the preload to postgresql.conf (after pg_autoctl's include, which
# sets shared_preload_libraries = pg_stat_statements).
if ! env_conf "$node1" ||
	! autoctl 60 create postgres --pgdata "$node1" --pgport "$node1_port" --name node1 \
		--monitor "$monitor_uri" "${common[@]}" >"$dir/create-node1.log" 2>&1; then
	cat "$dir/create-node1.log" >&2
	fo_not_ok "pg_autoctl create postgres (node1) failed"
	exit 1
fi
printf '%s\n' "# primary_guard" "shared_preload_libraries = 'pg_stat_statements,primary_guard'" \
	"primary_guard.on_promote = cancel" | fo_as_user tee -a "$node1/postgresql.conf" >/dev/null
fo_start_bg "$dir/node1.log" pg_autoctl run --pgdata "$node1"
node1_single() {
	states_are node1:single/single && fo_sql_is "$node1_port" 'SELECT pg_is_in_recovery()' f
}
fo_wait 60 "node1 single and up" node1_single ||
	{ tail -n 20 "$dir/node1.log" >&2; fo_not_ok "node1 did not become a single primary: $(states)"; exit 1; }

if fo_load_data "$node1_port"; then
	fo_ok "CREATE EXTENSION primary_guard, table big ($FO_ROWS rows), analysts/data_team and the policy, once on node1 (primary)"
else
	fo_not_ok "setup on node1 failed"
	exit 1
fi

# ---- node2: the secondary (pg_basebackup by pg_autoctl) --------------------
# pg_autoctl 2.0 runs pg_basebackup without --checkpoint=fast: it waits for
# a spread checkpoint (minutes).  A CHECKPOINT on the primary while it waits
# finishes that one at once.
formation_ready() {
	states_are 'node1:primary/primary node2:secondary/secondary' && return 0
	[[ $(states) == *node2:catchingup* ]] || fo_sql "$node1_port" CHECKPOINT >/dev/null 2>&1
	return 1
}
fo_start_bg "$dir/node2.log" pg_autoctl create postgres --pgdata "$node2" --pgport "$node2_port" \
	--name node2 --monitor "$monitor_uri" "${common[@]}" --run
if fo_wait 120 "node1 primary, node2 secondary" formation_ready; then
	fo_ok "node1 primary, node2 secondary (set up in $((SECONDS - t_setup))s)"
else
	tail -n 30 "$dir/node2.log" >&2
	fo_not_ok "the formation did not reach primary/secondary: $(states)"
	exit 1
fi
fo_wait_replayed "$node1_port" "$node2_port" || fo_log "node2 has not replayed node1's WAL yet"

fo_check_preload node1 "$node1_port"
fo_check_preload node2 "$node2_port"

# ---- before the switchover: analytics on the secondary ---------------------
fo_session_open "$node2_port"
fo_session_heavy_allowed
fo_inflight_start "$node2_port"
fo_oldside_open "$node1_port"

# ---- the switchover ---------------------------------------------------------
node2_primary() { [[ $(states) == node1:*" node2:primary/primary" ]]; }
t0=$SECONDS
if autoctl 150 perform switchover --pgdata "$node1" --wait 120 >"$dir/switchover.log" 2>&1; then
	sw_rc=0
else
	sw_rc=$?
fi
took=$((SECONDS - t0))
if [[ $sw_rc -eq 0 ]] &&
	fo_wait 60 "node2 primary" node2_primary; then
	fo_ok "pg_autoctl perform switchover promoted node2 (${took}s)"
else
	tail -n 30 "$dir/switchover.log" >&2
	fo_not_ok "pg_autoctl perform switchover (exit $sw_rc, ${took}s): $(states)"
fi
# Known noise of pg_autoctl 2.0 (see the README): logged, not asserted.
if grep -h 'invalid input syntax for type integer' "$dir/switchover.log" "$dir"/node*.log >&2; then
	fo_log "(pg_autoctl's known noise above, during a switchover that succeeds)"
fi

fo_session_after_switchover "$node2_port"
fo_inflight_check "$took" "$node2"/log/*.log
fo_oldside_check pg_autoctl

# ---- the old primary rejoins -------------------------------------------------
if fo_wait 120 "node1 secondary" states_are 'node1:secondary/secondary node2:primary/primary'; then
	fo_ok "node1 rejoined as secondary ($((SECONDS - t0))s after the switchover started)"
else
	tail -n 30 "$dir/node1.log" >&2
	fo_not_ok "node1 did not rejoin as secondary: $(states)"
fi
fo_wait_replayed "$node2_port" "$node1_port" || true
fo_check_rejoined node1 "$node1_port"
fo_check_preload node2 "$node2_port"
