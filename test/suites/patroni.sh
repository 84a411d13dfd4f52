#!/usr/bin/env bash
# test/suites/patroni.sh - the switchover story under Patroni.
#
# Starts, on 127.0.0.1, a single-node etcd (Debian's etcd-server) as the
# DCS and two Patroni members (Debian's patroni, etcd3 API), with the
# README's recipe in the bootstrap DCS configuration:
#
#   postgresql.parameters.shared_preload_libraries: primary_guard
#   postgresql.parameters.primary_guard.on_promote: cancel
#
# then tells the story of test/failover_lib.sh: the preload on both
# members, CREATE EXTENSION and the policy once on the leader, a data_team
# session on the replica (count(*) allowed) and a guarded statement in
# flight, `patronictl switchover`, the same session rejected with 54001 on
# the new leader, the statement in flight cancelled, and the old leader
# back as a replica with the preload, where the count(*) runs again.
#
# Prints "ok - ..." / "not ok - ..." lines for test/run_tests.sh; without
# patroni or etcd (and not root, which installs them) one "ok - ... # SKIP"
# line.  Ports PATRONI_PORT (default 56320) and up: etcd client +0, peer +1;
# REST APIs +10, +11; PostgreSQL +20, +21.  Stops everything it started
# (fo_cleanup), also on failure or timeout.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/lib.sh
source "$repo/test/lib.sh"
# shellcheck source=test/failover_lib.sh
source "$repo/test/failover_lib.sh"

pg_guard_use_installed_pg
FO_NAME=patroni
fo_skip_or_install "command -v patroni >/dev/null && command -v patronictl >/dev/null && command -v etcd >/dev/null" \
	patroni etcd-server python3-etcd

base=${PATRONI_PORT:-56320}
etcd_port=$base etcd_peer=$((base + 1))
rest=($((base + 10)) $((base + 11)))
pg=($((base + 20)) $((base + 21)))
if ! fo_ports_free "$etcd_port" "$etcd_peer" "${rest[@]}" "${pg[@]}"; then
	fo_not_ok "ports $base-$((base + 21)) on 127.0.0.1 are not free"
	exit 1
fi

fo_setup patroni
dir=$FO_DIR
sock=$dir/sock
bindir=$("$PG_CONFIG" --bindir)
FO_ENV=(HOME="$dir")
fo_as_user mkdir -m 700 -p "$sock" "$dir/etcd" "$dir/member1" "$dir/member2"

# ---- etcd: a single-node DCS of our own -------------------------------------
fo_start_bg "$dir/etcd.log" etcd --name primary_guard_test --data-dir "$dir/etcd/data" \
	--listen-client-urls "http://127.0.0.1:$etcd_port" \
	--advertise-client-urls "http://127.0.0.1:$etcd_port" \
	--listen-peer-urls "http://127.0.0.1:$etcd_peer" \
	--initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
	--initial-cluster "primary_guard_test=http://127.0.0.1:$etcd_peer" \
	--initial-cluster-state new --initial-cluster-token primary_guard_test
etcd_up() {
	python3 -c 'import sys, urllib.request
sys.exit(b"\"health\":\"true\"" not in urllib.request.urlopen(sys.argv[1], timeout=2).read())' \
		"http://127.0.0.1:$etcd_port/health" 2>/dev/null
}
if fo_wait 30 "etcd" etcd_up; then
	fo_ok "etcd $(etcd --version | sed -n 's/^etcd Version: //p') serves 127.0.0.1:$etcd_port"
else
	tail -n 20 "$dir/etcd.log" >&2
	fo_not_ok "etcd did not start"
	exit 1
fi

# ---- the Patroni configuration of member N ---------------------------------
# The bootstrap.dcs part is the README's recipe; the rest is this test's
# environment (loopback ports, directories in the temp dir, trust auth).
member_conf() {
	local n=$1 i=$(($1 - 1))
	cat <<EOF
scope: primary_guard_test
namespace: /primary_guard_test/
name: member$n
log:
  level: INFO
restapi:
  listen: 127.0.0.1:${rest[i]}
  connect_address: 127.0.0.1:${rest[i]}
etcd3:
  hosts: 127.0.0.1:$etcd_port
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 2
    retry_timeout: 5
    postgresql:
      use_pg_rewind: true
      parameters:
        shared_preload_libraries: primary_guard
        primary_guard.on_promote: cancel
  initdb:
    - encoding: UTF8
postgresql:
  listen: 127.0.0.1:${pg[i]}
  connect_address: 127.0.0.1:${pg[i]}
  data_dir: $dir/member$n/data
  bin_dir: $bindir
  pgpass: $dir/member$n/pgpass
  basebackup:
    checkpoint: fast
  authentication:
    superuser:
      username: postgres
    replication:
      username: replicator
    rewind:
      username: postgres
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication replicator 127.0.0.1/32 trust
  parameters:
    unix_socket_directories: '$sock'
    logging_collector: 'on'
    log_directory: '$dir/member$n'
    log_filename: postgresql.log
EOF
}
for n in 1 2; do
	member_conf "$n" | fo_as_user tee "$dir/member$n.yml" >/dev/null
done

patronictl() { fo_as_user timeout -k 5 "$1" patronictl -c "$dir/member1.yml" "${@:2}"; }
# members: "name:role:state ..." from patronictl list.
members() {
	patronictl 20 list -f json 2>/dev/null | python3 -c '
import json, sys
print(" ".join("%s:%s:%s" % (m["Member"], m["Role"], m["State"])
               for m in sorted(json.load(sys.stdin), key=lambda m: m["Member"])))' 2>/dev/null
}
members_are() { [[ $(members) == "$1" ]]; }
# replica_of LEADER REPLICA: patronictl shows LEADER as the leader and
# REPLICA as a running replica (Patroni 3.0 says "running", later versions
# "streaming"), and REPLICA's WAL receiver streams.
replica_of() {
	local m
	m=$(members)
	[[ $m == *"$1:Leader:running"* && $m =~ $2:Replica:(running|streaming) ]] &&
		fo_sql_is "${pg[${2#member} - 1]}" 'SELECT status FROM pg_stat_wal_receiver' streaming
}

t_setup=$SECONDS
fo_start_bg "$dir/patroni1.log" patroni "$dir/member1.yml"
# leads N: memberN is the leader in patronictl and its server is a primary.
leads() {
	[[ $(members) =~ member$1:Leader:running ]] &&
		fo_sql_is "${pg[$1 - 1]}" 'SELECT pg_is_in_recovery()' f
}
if ! fo_wait 60 "member1 leader" leads 1; then
	tail -n 30 "$dir/patroni1.log" >&2
	fo_not_ok "member1 did not become the leader: $(members)"
	exit 1
fi
if fo_load_data "${pg[0]}"; then
	fo_ok "CREATE EXTENSION primary_guard, table big ($FO_ROWS rows), analysts/data_team and the policy, once on member1 (leader)"
else
	fo_not_ok "setup on member1 failed"
	exit 1
fi

fo_start_bg "$dir/patroni2.log" patroni "$dir/member2.yml"
if fo_wait 90 "member2 streaming" replica_of member1 member2; then
	fo_ok "member1 leader, member2 streaming replica (set up in $((SECONDS - t_setup))s)"
else
	tail -n 30 "$dir/patroni2.log" >&2
	fo_not_ok "member2 did not become a streaming replica: $(members)"
	exit 1
fi
fo_wait_replayed "${pg[0]}" "${pg[1]}" || fo_log "member2 has not replayed member1's WAL yet"

fo_check_preload member1 "${pg[0]}"
fo_check_preload member2 "${pg[1]}"
for n in 1 2; do
	v=$(fo_sql "${pg[n - 1]}" 'SHOW primary_guard.on_promote' 2>&1)
	fo_check "member$n has primary_guard.on_promote = cancel (from the DCS)" [ "$v" == cancel ]
done

# ---- before the switchover: analytics on the replica -----------------------
fo_session_open "${pg[1]}"
fo_session_heavy_allowed
fo_inflight_start "${pg[1]}"
fo_oldside_open "${pg[0]}"

# ---- the switchover ---------------------------------------------------------
t0=$SECONDS
if patronictl 120 switchover --leader member1 --candidate member2 --force \
	>"$dir/switchover.log" 2>&1; then
	sw_rc=0
else
	sw_rc=$?
fi
if [[ $sw_rc -eq 0 ]] &&
	fo_wait 60 "member2 leader" leads 2; then
	took=$((SECONDS - t0))
	fo_ok "patronictl switchover made member2 the leader (${took}s)"
else
	took=$((SECONDS - t0))
	cat "$dir/switchover.log" >&2
	fo_not_ok "patronictl switchover (exit $sw_rc, ${took}s): $(members)"
fi

fo_session_after_switchover "${pg[1]}"
fo_inflight_check "$took" "$dir/member2/postgresql.log"
fo_oldside_check Patroni

# ---- the old leader rejoins -------------------------------------------------
if fo_wait 90 "member1 streaming" replica_of member2 member1; then
	fo_ok "member1 rejoined as a streaming replica ($((SECONDS - t0))s after the switchover started)"
else
	tail -n 30 "$dir/patroni1.log" >&2
	fo_not_ok "member1 did not rejoin as a replica: $(members)"
fi
fo_wait_replayed "${pg[1]}" "${pg[0]}" || true
fo_check_rejoined member1 "${pg[0]}"
fo_check_preload member2 "${pg[1]}"
