#!/usr/bin/env bash
# racoon-rs <-> racoon-rs in network namespaces: the self-interop matrix (issue #7)
# and the robustness proofs against a running daemon (issue #10).
#
#   sudo bash tests/netns/run.sh                 # every scenario
#   sudo bash tests/netns/run.sh mm-psk rekey    # some scenarios
#   bash tests/netns/run.sh --list
#
# Binaries: RACOON_BIN, RACOONCTL_BIN, SETKEY_BIN (default target/debug/...;
# build with `cargo build -p racoon-rs -p setkey-rs`).
#
# Every scenario runs in its own process under `timeout`, in namespaces named
# h3n<token><a|b|n|f> (token random per scenario). Each process and namespace
# is written to a registry first; the EXIT traps remove exactly those, by PID
# and by namespace name (never by process name). Addresses: 192.0.2.0/24
# between gateways, 198.51.100.0/24 behind them, 10.0.0.0/8 behind the NAT and
# for flood sources; no default routes.
#
# Exit status: 0 all selected scenarios passed, 1 some failed, 77 skipped
# (not root / no `ip netns`).

set -u
set -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
CRAFT="$HERE/ikecraft.py"
RACOON_BIN=${RACOON_BIN:-$ROOT/target/debug/racoon}
RACOONCTL_BIN=${RACOONCTL_BIN:-$ROOT/target/debug/racoonctl}
SETKEY_BIN=${SETKEY_BIN:-$ROOT/target/debug/setkey}
IPSECD_BIN=${IPSECD_BIN:-$(dirname "$RACOON_BIN")/ipsecd}
SCENARIO_TIMEOUT=${SCENARIO_TIMEOUT:-240}
export RACOON_BIN RACOONCTL_BIN SETKEY_BIN IPSECD_BIN

ALL="mm-psk establish-sa examples am-psk-fqdn pfs-modp2048 transport nat-t wrong-psk failed-phase2 flush-waiting sigterm-cleanup restart restart-initial-contact engine-restart racoon-restart-standalone acquire-storm clock-jump lossy rekey hostile cve socket-abuse flood flood-aggressive"

log() { printf '%s %s\n' "$(date +%T.%3N)" "$*" >&2; }

# ----------------------------------------------------------------------------
# Registry (same idea as interop/run.sh; not sourced from it)
# ----------------------------------------------------------------------------
REGISTRY=${REGISTRY:-}
reg() { [ -n "$REGISTRY" ] && printf '%s %s\n' "$1" "$2" >>"$REGISTRY"; }
stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
	for i in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}
cleanup_registry() {
	local r=$1 kind val pid
	[ -f "$r" ] || return 0
	while read -r kind val; do
		[ "$kind" = pid ] && stop_pid "$val"
	done < <(tac "$r")
	while read -r kind val; do
		[ "$kind" = ns ] || continue
		ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$val" || continue
		for pid in $(ip netns pids "$val" 2>/dev/null); do stop_pid "$pid"; done
		ip netns del "$val" 2>/dev/null
	done < <(tac "$r")
	: >"$r"
}

# ----------------------------------------------------------------------------
# Helpers used by scenarios (in the per-scenario process)
# ----------------------------------------------------------------------------
fail() {
	log "FAIL: $*"; echo "$*" >"$RUN/fail_reason"
	# NETNS_HOLD=SECONDS keeps the namespaces for inspection (debugging only)
	[ -n "${NETNS_HOLD:-}" ] && { log "holding $NS_A $NS_B for ${NETNS_HOLD}s"; sleep "$NETNS_HOLD"; }
	exit 1
}
note() { log "$*"; }
skip() { log "SKIP: $*"; echo "$*" >"$RUN/skip_reason"; exit 77; }
must() { "$@" || fail "command failed: $*"; }
ns() { case $1 in A) echo "$NS_A" ;; B) echo "$NS_B" ;; N) echo "$NS_N" ;; F) echo "$NS_F" ;; *) fail "bad side $1" ;; esac; }
in_ns() { local n; n=$(ns "$1"); shift; ip netns exec "$n" "$@"; }
wait_for() { # wait_for SECONDS cmd...: retry until true or SECONDS passed
	local end=$(($(date +%s) + $1)); shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.2
	done
}
mk_ns() { must ip netns add "$1"; reg ns "$1"; must ip -n "$1" link set lo up; }

# Two gateways A (192.0.2.1, hosts 198.51.100.1/26 on lo) and B (192.0.2.2,
# 198.51.100.65/26) on one veth; with NAT=1, A is 10.0.0.2 behind N which
# masquerades onto 192.0.2.1.
topology() {
	mk_ns "$NS_A"; mk_ns "$NS_B"
	if [ "${NAT:-0}" = 1 ]; then
		mk_ns "$NS_N"
		must ip link add "h3${TOK}an" netns "$NS_A" type veth peer name "h3${TOK}na" netns "$NS_N"
		must ip link add "h3${TOK}nb" netns "$NS_N" type veth peer name "h3${TOK}bn" netns "$NS_B"
		must ip -n "$NS_A" addr add 10.0.0.2/8 dev "h3${TOK}an"
		must ip -n "$NS_N" addr add 10.0.0.1/8 dev "h3${TOK}na"
		must ip -n "$NS_N" addr add 192.0.2.1/24 dev "h3${TOK}nb"
		must ip -n "$NS_B" addr add 192.0.2.2/24 dev "h3${TOK}bn"
		for l in "$NS_A:h3${TOK}an" "$NS_N:h3${TOK}na" "$NS_N:h3${TOK}nb" "$NS_B:h3${TOK}bn"; do
			must ip -n "${l%%:*}" link set "${l#*:}" up
		done
		must ip -n "$NS_A" route add 192.0.2.0/24 via 10.0.0.1
		in_ns N sysctl -qw net.ipv4.ip_forward=1
		printf 'table ip h3nat {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname "%s" ip saddr 10.0.0.0/8 masquerade\n }\n}\n' \
			"h3${TOK}nb" | in_ns N nft -f - || fail "nft masquerade"
		A_IP=10.0.0.2
	else
		must ip link add "h3${TOK}a" netns "$NS_A" type veth peer name "h3${TOK}b" netns "$NS_B"
		must ip -n "$NS_A" addr add 192.0.2.1/24 dev "h3${TOK}a"
		must ip -n "$NS_B" addr add 192.0.2.2/24 dev "h3${TOK}b"
		must ip -n "$NS_A" link set "h3${TOK}a" up
		must ip -n "$NS_B" link set "h3${TOK}b" up
		A_IP=192.0.2.1
	fi
	B_IP=192.0.2.2
	must ip -n "$NS_A" addr add 198.51.100.1/26 dev lo
	must ip -n "$NS_B" addr add 198.51.100.65/26 dev lo
	wait_for 5 in_ns A ping -c1 -W1 "$B_IP" || fail "underlay $A_IP -> $B_IP does not work"
}

# conf SIDE: write $RUN/SIDE/{racoon.conf,psk.txt} from the scenario's variables:
#   MODE (main|aggressive), PFS (group or empty), P2LIFE (s), P1LIFE (s),
#   TRANSPORT=1, NATT=on|off, DPD (delay s, 0 = off), ANON_B=1 (B: remote anonymous,
#   passive, generate_policy), IDS=fqdn, SCRIPT (path of a hook script).
conf() {
	local side=$1 me peer myid="" peerid="" remote_addr sainfo dir=$RUN/$1 ctl_anon=""
	mkdir -p "$dir"
	if [ "$side" = A ]; then me=$A_IP; peer=$B_IP; else me=$B_IP; peer=192.0.2.1; fi
	if [ "${IDS:-}" = fqdn ]; then
		if [ "$side" = A ]; then myid='my_identifier fqdn "a.h3n.example";'; peerid='peers_identifier fqdn "b.h3n.example"; verify_identifier on;'
		else myid='my_identifier fqdn "b.h3n.example";'; peerid='peers_identifier fqdn "a.h3n.example"; verify_identifier on;'; fi
	fi
	remote_addr=$peer
	if [ "$side" = B ] && [ "${ANON_B:-0}" = 1 ]; then
		remote_addr=anonymous
		ctl_anon="passive on; generate_policy on; proposal_check obey;"
	fi
	if [ "${TRANSPORT:-0}" = 1 ]; then
		sainfo="address $me any address $peer any"
	elif [ "$side" = A ]; then
		sainfo="address 198.51.100.0/26 any address 198.51.100.64/26 any"
	else
		sainfo="address 198.51.100.64/26 any address 198.51.100.0/26 any"
	fi
	[ "$side" = B ] && [ "${ANON_B:-0}" = 1 ] && sainfo=anonymous
	local dpd=""
	[ "${DPD:-0}" != 0 ] && dpd="dpd_delay ${DPD}; dpd_retry 2; dpd_maxfail 3;"
	local script="" SCRIPT=""
	if [ "${HOOKS:-0}" = 1 ]; then # a hook script that records its argv[1] and racoon's variables
		SCRIPT=$dir/hook.sh
		printf '#!/bin/sh\necho "$1 LOCAL=$LOCAL_ADDR:$LOCAL_PORT REMOTE=$REMOTE_ADDR:$REMOTE_PORT HOME=${HOME:-unset}" >>%s/hooks.log\n' "$dir" >"$SCRIPT"
		chmod 700 "$SCRIPT"
	fi
	[ -n "$SCRIPT" ] && script="script \"$SCRIPT\" phase1_up; script \"$SCRIPT\" phase1_down; script \"$SCRIPT\" phase1_dead;"
	cat >"$dir/racoon.conf" <<EOF
# generated by tests/netns/run.sh (scenario $SCENARIO, side $side)
path pre_shared_key "$dir/psk.txt";
path pidfile "$dir/racoon.pid";
log ${LOGLEVEL:-debug};
listen {
	isakmp $me [500];
	isakmp_natt $me [4500];
	adminsock "$dir/racoon.sock";
	strict_address;
}
timer {
	counter 5;
	interval 2 sec;
	phase1 ${PH1_TIMEOUT:-15} sec;
	phase2 15 sec;
	natt_keepalive 5 sec;
}
remote $remote_addr {
	exchange_mode ${MODE:-main};
	$myid
	$peerid
	$ctl_anon
	lifetime time ${P1LIFE:-3600} sec;
	initial_contact on;
	nat_traversal ${NATT:-off};
	$dpd
	$script
	proposal {
		encryption_algorithm aes 128;
		hash_algorithm sha1;
		authentication_method pre_shared_key;
		dh_group modp2048;
	}
}
sainfo $sainfo {
	${PFS:+pfs_group $PFS;}
	lifetime time ${P2LIFE:-3600} sec;
	encryption_algorithm aes 128;
	authentication_algorithm hmac_sha1;
	compression_algorithm deflate;
}
EOF
	{
		echo "# generated"
		echo "192.0.2.1 h3n-test-key-0123456789"
		echo "192.0.2.2 h3n-test-key-0123456789"
		echo "10.0.0.2 h3n-test-key-0123456789"
		echo "a.h3n.example h3n-test-key-0123456789"
		echo "b.h3n.example h3n-test-key-0123456789"
	} >"$dir/psk.txt"
	chmod 600 "$dir/psk.txt"
	"$RACOON_BIN" --check -f "$dir/racoon.conf" >"$dir/check.out" 2>&1 || {
		cat "$dir/check.out" >&2
		fail "racoon --check ($side)"
	}
	# policies
	if [ "$side" = B ] && [ "${ANON_B:-0}" = 1 ]; then
		printf 'flush;\nspdflush;\n' >"$dir/setkey.conf"
	elif [ "${TRANSPORT:-0}" = 1 ]; then
		cat >"$dir/setkey.conf" <<EOF
flush;
spdflush;
spdadd $me $peer icmp -P out ipsec esp/transport//require;
spdadd $peer $me icmp -P in ipsec esp/transport//require;
EOF
	else
		local lnet rnet
		if [ "$side" = A ]; then lnet=198.51.100.0/26; rnet=198.51.100.64/26; else lnet=198.51.100.64/26; rnet=198.51.100.0/26; fi
		cat >"$dir/setkey.conf" <<EOF
flush;
spdflush;
spdadd $lnet $rnet any -P out ipsec esp/tunnel/$me-$peer/require;
spdadd $rnet $lnet any -P in ipsec esp/tunnel/$peer-$me/require;
EOF
	fi
}

# start SIDE: racoon in the side's namespace (registered), waits for its sockets,
# then loads the side's setkey.conf.
start() { # start SIDE [ipsecd]: with "ipsecd", a standalone engine and racoon --no-embedded-engine
	local side=$1 dir=$RUN/$1 n extra=""
	n=$(ns "$side")
	rm -f "$dir/racoon.sock"
	if [ "${2:-}" = ipsecd ]; then
		start_ipsecd "$side"; extra=--no-embedded-engine
	else
		rm -f "$dir/pfkey.sock"
	fi
	local pre=()
	if [ "$side" = A ] && [ -n "${FAKETIME_LIB:-}" ]; then # clock-jump: A's wall clock from a file
		pre=(env LD_PRELOAD="$FAKETIME_LIB" DONT_FAKE_MONOTONIC=1 FAKETIME_TIMESTAMP_FILE="$RUN/faketime" FAKETIME_CACHE_DURATION=1)
	fi
	ip netns exec "$n" "${pre[@]}" "$RACOON_BIN" -F -f "$dir/racoon.conf" --pfkey-socket "$dir/pfkey.sock" $extra \
		>>"$dir/racoon.out" 2>>"$dir/racoon.log" &
	local pid=$!
	reg pid "$pid"
	eval "PID_$side=$pid"
	wait_for 20 test -S "$dir/racoon.sock" -a -S "$dir/pfkey.sock" || fail "racoon ($side) did not open its sockets"
	kill -0 "$pid" 2>/dev/null || fail "racoon ($side) exited"
	sk "$side" -f "$dir/setkey.conf" >/dev/null || fail "setkey -f ($side)"
}
sk() { local side=$1; shift; PFKEY_SOCKET=$RUN/$side/pfkey.sock timeout 10 ip netns exec "$(ns "$side")" "$SETKEY_BIN" "$@"; }
ctl() { local side=$1; shift; timeout 10 "$RACOONCTL_BIN" -s "$RUN/$side/racoon.sock" "$@"; }
sa_count() { sk "$1" -D 2>/dev/null | grep -c 'spi=' || true; }
spd_count() { sk "$1" -DP 2>/dev/null | grep -Ec '^[0-9a-f:.]+(/[0-9]+)?(\[[a-z0-9]+\])? ' || true; }
ph1_established() { ctl "$1" -l show-sa isakmp 2>/dev/null | awk 'NR>1 && $3==9' | wc -l; }
ph1_count() { ctl "$1" show-sa isakmp 2>/dev/null | awk 'NR>1' | wc -l; }
is() { local v; v=$("$1" "$2"); [ "$v" "$3" "$4" ]; } # is COUNTER SIDE OP N (re-evaluated each call)
renegotiated() { ping_once "$1" >/dev/null 2>&1; [ "$(ph1_established "$1")" -ge 1 ] && [ "$(sa_count "$1")" -ge 2 ]; }
alive() { local v="PID_$1"; kill -0 "${!v}" 2>/dev/null; }
# The SPIs (hex) of a side's SAs, sorted: the fingerprint of "no SA changed".
sa_spis() { sk "$1" -D 2>/dev/null | sed -n 's/.*spi=[0-9]*(0x\([0-9a-f]*\)).*/\1/p' | sort | tr '\n' ' '; }

# Ping from one protected host to the other (tunnel) or host to host (transport).
ping_once() { # ping_once FROM_SIDE [count]
	local c=${2:-1}
	if [ "${TRANSPORT:-0}" = 1 ]; then
		if [ "$1" = A ]; then in_ns A ping -c "$c" -W 1 -i 0.2 -I "$A_IP" "$B_IP"; else in_ns B ping -c "$c" -W 1 -i 0.2 -I "$B_IP" 192.0.2.1; fi
	else
		if [ "$1" = A ]; then in_ns A ping -c "$c" -W 1 -i 0.2 -I 198.51.100.1 198.51.100.65
		else in_ns B ping -c "$c" -W 1 -i 0.2 -I 198.51.100.65 198.51.100.1; fi
	fi
}
tunnel_up() { # tunnel_up FROM_SIDE SECONDS
	wait_for "$2" ping_once "$1" || fail "no ping reply from side $1 through the tunnel within $2 s"
}
both_ways() {
	tunnel_up A 30
	tunnel_up B 15
	ping_once A 3 >/dev/null || fail "ping A->B lost packets after the tunnel was up"
	ping_once B 3 >/dev/null || fail "ping B->A lost packets after the tunnel was up"
}
check_alive() { local s; for s in "$@"; do alive "$s" || fail "racoon ($s) died"; done; }
grep_log() { grep -q -- "$2" "$RUN/$1/racoon.log"; }

# ----------------------------------------------------------------------------
# Scenarios
# ----------------------------------------------------------------------------
sc_mm_psk() { # Main Mode PSK, tunnel, address IDs
	topology; conf A; conf B; start B; start A
	both_ways
	[ "$(ph1_established A)" -ge 1 ] || fail "racoonctl show-sa isakmp (A) lists no established phase 1"
	[ "$(sa_count A)" -eq 2 ] && [ "$(sa_count B)" -eq 2 ] || fail "expected 2 SAs per side, got A=$(sa_count A) B=$(sa_count B)"
	note "SAs A=$(sa_count A) B=$(sa_count B); phase 1 A: $(ph1_established A) established"
	local m
	for m in racoon.sock pfkey.sock; do
		[ "$(stat -c %a "$RUN/A/$m")" = 600 ] || fail "$m has mode $(stat -c %a "$RUN/A/$m") (expected 600)"
	done
	chmod 644 "$RUN/A/psk.txt"
	"$RACOON_BIN" --check -f "$RUN/A/racoon.conf" >/dev/null 2>&1 && fail "racoon --check accepted a world-readable psk.txt"
	chmod 600 "$RUN/A/psk.txt"
}
sc_establish_sa() { # racoonctl establish-sa isakmp, then esp, with no traffic at all
	topology; conf A; conf B; start B; start A
	ctl A establish-sa isakmp inet 192.0.2.1 192.0.2.2 || fail "racoonctl establish-sa isakmp failed"
	wait_for 15 is ph1_established A -ge 1 || fail "establish-sa isakmp: no phase 1 within 15 s"
	[ "$(sa_count A)" -eq 0 ] || fail "SAs exist before establish-sa esp"
	ctl A establish-sa esp inet 198.51.100.0/26 198.51.100.64/26 any || fail "racoonctl establish-sa esp failed"
	wait_for 15 is sa_count A -eq 2 || fail "establish-sa esp: no SAs within 15 s"
	ctl A establish-sa esp inet 203.0.113.0/24 198.51.100.64/26 any && fail "establish-sa esp without a policy succeeded"
	both_ways
	note "establish-sa: phase 1 and 2 SAs without traffic; unknown selector refused"
}
example_conf() { # example_conf SIDE DIR [ADDR-SWAP]: a shipped example with only its paths rewritten
	local side=$1 src=$ROOT/examples/$2 dir=$RUN/$1
	mkdir -p "$dir"
	sed -e "s|/etc/racoon/psk.txt|$dir/psk.txt|" -e "s|/var/run/racoon.pid|$dir/racoon.pid|" \
	    -e "s|/var/racoon/racoon.sock|$dir/racoon.sock|" "$src/racoon.conf" >"$dir/racoon.conf"
	cp "$src/psk.txt" "$dir/psk.txt"; cp "$src/setkey.conf" "$dir/setkey.conf"
	if [ "${3:-}" = swap ]; then # the transport example's peer: the same files, addresses swapped
		sed -i -e 's/192\.0\.2\.1/192.0.2.X/g' -e 's/192\.0\.2\.2/192.0.2.1/g' -e 's/192\.0\.2\.X/192.0.2.2/g' \
			"$dir/racoon.conf" "$dir/psk.txt" "$dir/setkey.conf"
	fi
	grep -q adminsock "$dir/racoon.conf" || printf 'listen {\n\tadminsock "%s/racoon.sock";\n}\n' "$dir" >>"$dir/racoon.conf"
	grep -q 'path pidfile' "$dir/racoon.conf" || sed -i "1i path pidfile \"$dir/racoon.pid\";" "$dir/racoon.conf"
	chmod 600 "$dir/psk.txt"
	"$RACOON_BIN" --check -f "$dir/racoon.conf" >"$dir/check.out" 2>&1 || { cat "$dir/check.out" >&2; fail "racoon --check ($side, examples/$2)"; }
}
sc_examples() { # the shipped examples/nat-t (client behind nftables masquerade) and examples/transport, unchanged but for paths
	NAT=1
	topology
	example_conf A nat-t/client; example_conf B nat-t/gateway
	start B; start A
	wait_for 30 in_ns A ping -c1 -W1 -I 10.0.0.2 198.51.100.65 || fail "examples/nat-t: no reply through the tunnel"
	in_ns B ping -c 2 -W 1 -I 198.51.100.65 10.0.0.2 >/dev/null || fail "examples/nat-t: gateway -> client failed"
	note "examples/nat-t: client 10.0.0.2 <-> 198.51.100.65 through the NAT; gateway SAs $(sa_count B)"
	kill -TERM "$PID_A" "$PID_B"; wait "$PID_A" "$PID_B" 2>/dev/null
	cleanup_registry "$REGISTRY"
	NAT=0 TRANSPORT=1
	topology
	example_conf A transport; example_conf B transport swap
	start B; start A
	wait_for 30 in_ns A ping -c1 -W1 -I 192.0.2.1 192.0.2.2 || fail "examples/transport: no reply"
	sk A -D >"$RUN/A.sad"
	grep -q 'mode=transport' "$RUN/A.sad" || fail "examples/transport: SAs are not transport mode"
	in_ns B ping -c 2 -W 1 -I 192.0.2.2 192.0.2.1 >/dev/null || fail "examples/transport: B -> A failed"
	note "examples/transport: both ways, transport-mode SAs A=$(sa_count A)"
}
sc_am_psk_fqdn() { # Aggressive Mode, fqdn identities (psk looked up by ID)
	MODE=aggressive IDS=fqdn
	topology; conf A; conf B; start B; start A
	both_ways
	ctl A -l show-sa isakmp | awk 'NR>1' | grep -q ' A ' || ctl A -l show-sa isakmp | grep -q 'A' || fail "phase 1 is not Aggressive Mode"
	grep_log B "a.h3n.example" || note "(B's log does not name the peer's fqdn)"
}
sc_pfs_modp2048() { # Quick Mode with PFS group 14
	PFS=modp2048
	topology; conf A; conf B; start B; start A
	both_ways
	grep -Eqi 'pfs|group' "$RUN/A/racoon.log" || note "(log does not mention PFS)"
}
sc_transport() { # host-to-host transport mode (icmp policies)
	TRANSPORT=1
	topology; conf A; conf B; start B; start A
	both_ways
	sk A -D >"$RUN/A.sad"
	grep -q 'mode=transport' "$RUN/A.sad" || fail "SAs are not transport mode"
}
sc_nat_t() { # A (10.0.0.2) behind N (nftables masquerade to 192.0.2.1); B anonymous + generate_policy
	NAT=1 NATT=on ANON_B=1
	topology; conf A; conf B; start B; start A
	tunnel_up A 30
	tunnel_up B 15
	ping_once A 3 >/dev/null || fail "ping A->B lost packets"
	ping_once B 3 >/dev/null || fail "ping B->A lost packets"
	sk B -D >"$RUN/B.sad"
	grep -q '192.0.2.1\[4500\]' "$RUN/B.sad" || fail "B's SAs are not UDP-encapsulated to 192.0.2.1[4500]"
	[ "$(spd_count B)" -ge 2 ] || fail "generate_policy installed no policies on B"
	note "B sees A as 192.0.2.1[4500]; B's generated policies: $(spd_count B)"
}
sc_wrong_psk() { # different keys: phase 1 fails, nothing installed, both keep serving; then the right key works
	topology; conf A; conf B
	sed -i 's/h3n-test-key-0123456789/wrong-key-h3n-9876543210/' "$RUN/B/psk.txt"
	start B; start A
	local i
	for i in 1 2 3 4 5 6; do ping_once A >/dev/null 2>&1 && fail "traffic passed with mismatched keys"; done
	wait_for 20 grep -qi 'pre-shared key\|auth\|HASH' "$RUN/A/racoon.log" "$RUN/B/racoon.log" || note "(no authentication failure line logged)"
	[ "$(sa_count A)" -eq 0 ] && [ "$(sa_count B)" -eq 0 ] || fail "SAs installed with mismatched keys: A=$(sa_count A) B=$(sa_count B)"
	[ "$(ph1_established A)" -eq 0 ] && [ "$(ph1_established B)" -eq 0 ] || fail "a phase 1 was established with mismatched keys"
	check_alive A B
	note "wrong PSK: $(grep -hiE 'likely bad pre-shared|authentication|hash mismatch|HASH' "$RUN/A/racoon.log" "$RUN/B/racoon.log" | grep -v DEBUG | head -2 | tr '\n' '|')"
	# fix the key, reload B (SIGHUP re-reads psk.txt): the tunnel comes up
	sed -i 's/wrong-key-h3n-9876543210/h3n-test-key-0123456789/' "$RUN/B/psk.txt"
	kill -HUP "$PID_B"
	sleep 1
	# delete-sa purges the failed phase 1 and the phase 2 waiting for it (flush-sa isakmp would
	# leave that phase 2 waiting until its timer, suppressing new ACQUIREs meanwhile)
	ctl A delete-sa isakmp inet 192.0.2.1 192.0.2.2 >/dev/null 2>&1
	both_ways
}
acquired() { ping_once "$1" >/dev/null 2>&1; grep -q 'initiate new phase' "$RUN/$1/racoon.log"; }
sc_failed_phase2() { # B refuses A's ESP proposal: A's phase 2 fails, no larval SA stays, the fixed tunnel comes up at once
	topology; conf A; conf B
	sed -i '/^sainfo/,/^}/ s/encryption_algorithm aes 128;/encryption_algorithm 3des;/' "$RUN/B/racoon.conf"
	start B; start A
	wait_for 10 acquired A || fail "no phase 2 started on A"
	ping_once A >/dev/null 2>&1 && fail "traffic passed although B refuses the ESP proposal"
	wait_for 30 grep -q 'phase2 negotiation failed' "$RUN/A/racoon.log" || fail "A's phase 2 did not fail within 30 s"
	# right after the failure: nothing in either SAD (the GETSPI placeholder was DELETEd)
	[ "$(sa_count A)" -eq 0 ] || fail "A holds $(sa_count A) SAs right after its phase 2 failed (larval SA left behind)"
	[ "$(sa_count B)" -eq 0 ] || fail "B holds $(sa_count B) SAs after refusing the proposal"
	grep -q 'deleting larval SA' "$RUN/A/racoon.log" || fail "A did not log the DELETE of its larval SA"
	# fix B's proposal; the engine's ACQUIRE block ended with the larval SA: no 30 s wait
	sed -i '/^sainfo/,/^}/ s/encryption_algorithm 3des;/encryption_algorithm aes 128;/' "$RUN/B/racoon.conf"
	kill -HUP "$PID_B"; sleep 1
	local t0 t1; t0=$(date +%s%3N)
	tunnel_up A 10
	t1=$(date +%s%3N)
	both_ways
	note "failed phase 2: SAs right after A=0 B=0; fixed tunnel up $((t1 - t0)) ms after B's reload"
	echo "fixed_tunnel_ms=$((t1 - t0))" >>"$RUN/metrics"
}
sc_flush_waiting() { # flush-sa isakmp while phase 1 cannot complete (B down): the waiting phase 2 is dropped at once
	topology; conf A; conf B; start A
	wait_for 10 acquired A || fail "no phase 1 started"
	ctl A flush-sa isakmp >/dev/null 2>&1 || fail "flush-sa isakmp"
	wait_for 3 grep -q 'phase2 negotiation failed: phase 1 flushed' "$RUN/A/racoon.log" ||
		fail "the phase 2 waiting for the flushed phase 1 was not dropped within 3 s"
	[ "$(ph1_count A)" -eq 0 ] || fail "A lists $(ph1_count A) phase 1s after flush-sa isakmp"
	[ "$(sa_count A)" -eq 0 ] || fail "A holds $(sa_count A) SAs after flush-sa isakmp"
	check_alive A
	note "flush-sa isakmp: waiting phase 2 dropped, phase 1 A=$(ph1_count A), SAs A=$(sa_count A)"
}
sc_sigterm_cleanup() { # SIGTERM: DELETEs sent, SAs flushed, peer removes its SAs (and runs phase1_down); restart works
	HOOKS=1
	topology; conf A; conf B; start B; start A
	both_ways
	local before; before=$(sa_count A)
	kill -TERM "$PID_B"
	for _ in $(seq 1 50); do kill -0 "$PID_B" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$PID_B" 2>/dev/null && fail "racoon (B) still running 5 s after SIGTERM"
	wait "$PID_B"; local rc=$?
	[ "$rc" -eq 0 ] || fail "racoon (B) exited $rc after SIGTERM"
	[ -e "$RUN/B/racoon.sock" ] && fail "B left its admin socket behind"
	[ -e "$RUN/B/racoon.pid" ] && fail "B left its pid file behind"
	wait_for 10 is sa_count A -eq 0 || fail "A still has $(sa_count A) SAs after B's DELETEs (had $before)"
	wait_for 10 is ph1_count A -eq 0 || fail "A still lists $(ph1_count A) phase 1 after B's DELETE"
	note "A's SAs: $before before B's SIGTERM, $(sa_count A) after"
	wait_for 5 grep -q '^phase1_down LOCAL=192.0.2.1:500 REMOTE=192.0.2.2:500 HOME=unset' "$RUN/A/hooks.log" ||
		fail "A's phase1_down script did not run with racoon's variables: $(cat "$RUN/A/hooks.log" 2>/dev/null)"
	start B
	both_ways
}
sc_restart() { # kill -9 one side, start it again: traffic resumes without manual steps; phase1_up/dead hooks
	DPD=5 HOOKS=1
	topology; conf A; conf B; start B; start A
	both_ways
	local a_before b_before; a_before=$(sa_count A); b_before=$(sa_count B)
	kill -KILL "$PID_B"; wait "$PID_B" 2>/dev/null
	note "B killed (SIGKILL); A still holds $(sa_count A) SAs"
	start B
	local t0; t0=$(date +%s)
	# traffic from A only: B must be re-learnt through INITIAL-CONTACT or DPD
	wait_for 60 ping_once A || fail "traffic did not resume within 60 s of B's restart"
	local t1; t1=$(date +%s)
	tunnel_up B 15
	sleep 3
	local a_after b_after; a_after=$(sa_count A); b_after=$(sa_count B)
	note "recovered in $((t1 - t0)) s; SAs before A=$a_before B=$b_before, after A=$a_after B=$b_after; phase 1 A=$(ph1_count A) B=$(ph1_count B)"
	grep -q '^phase1_up LOCAL=192.0.2.2:500 REMOTE=192.0.2.1:500' "$RUN/B/hooks.log" || fail "B's phase1_up script did not run"
	grep -q '^phase1_dead LOCAL=192.0.2.1:500 REMOTE=192.0.2.2:500' "$RUN/A/hooks.log" || fail "A's phase1_dead script did not run after DPD"
	[ "$(grep -c '^phase1_up' "$RUN/A/hooks.log")" -ge 2 ] || fail "A's phase1_up did not run again after recovery"
	note "A's hooks: $(cut -d' ' -f1 "$RUN/A/hooks.log" | tr '\n' ' ')"
	[ "$a_after" -eq 2 ] || fail "A holds $a_after SAs after recovery (leftovers; expected 2)"
	[ "$b_after" -eq 2 ] || fail "B holds $b_after SAs after recovery (expected 2)"
	echo "restart_recovery_s=$((t1 - t0))" >>"$RUN/metrics"
}
sc_restart_initial_contact() { # kill -9 the initiating side, no DPD: its INITIAL-CONTACT purges the peer's stale SAs
	DPD=0
	topology; conf A; conf B; start B; start A
	both_ways
	local b_before; b_before=$(sa_spis B)
	kill -KILL "$PID_A"; wait "$PID_A" 2>/dev/null
	note "A killed (SIGKILL); B still holds $(sa_count B) SAs"
	start A
	local t0; t0=$(date +%s)
	wait_for 30 ping_once A || fail "traffic did not resume within 30 s of A's restart"
	local t1; t1=$(date +%s)
	tunnel_up B 15
	sleep 2
	grep -q 'received INITIAL-CONTACT' "$RUN/B/racoon.log" || fail "B did not log INITIAL-CONTACT"
	local b_after; b_after=$(sa_spis B)
	note "recovered in $((t1 - t0)) s; B's SAs before [$b_before] after [$b_after]; phase 1 A=$(ph1_count A) B=$(ph1_count B)"
	[ "$(sa_count B)" -eq 2 ] || fail "B holds $(sa_count B) SAs after A's restart (stale ones left; expected 2)"
	for spi in $b_before; do
		case " $b_after " in *" $spi "*) fail "B still holds the stale SA $spi" ;; esac
	done
	# INITIAL-CONTACT also purges B's stale phase 1 with the restarted A
	[ "$(ph1_count B)" -eq 1 ] || fail "B lists $(ph1_count B) phase 1s after A's restart (stale one kept; expected 1)"
	echo "restart_ic_recovery_s=$((t1 - t0)) b_ph1_after=$(ph1_count B)" >>"$RUN/metrics"
}
sc_lossy() { # 20% of IKE datagrams dropped both ways (nftables numgen; no netem here): 3 negotiations, no leaks
	topology; conf A; conf B; start B; start A
	printf 'table inet h3loss {\n chain in { type filter hook input priority -10; udp dport { 500, 4500 } numgen random mod 100 < 20 counter drop; }\n chain out { type filter hook output priority -10; udp sport { 500, 4500 } numgen random mod 100 < 20 counter drop; }\n}\n' |
		in_ns B nft -f - || fail "nft loss table"
	local i t0 t1 times=""
	for i in 1 2 3; do
		t0=$(date +%s%3N)
		wait_for 60 renegotiated A || fail "negotiation $i did not complete within 60 s under 20% loss"
		t1=$(date +%s%3N); times="$times $((t1 - t0))"
		ctl A delete-sa isakmp inet 192.0.2.1 192.0.2.2 >/dev/null 2>&1 || fail "delete-sa $i"
		wait_for 10 is sa_count A -eq 0 || fail "A kept $(sa_count A) SAs after delete-sa $i"
	done
	wait_for 60 renegotiated A || fail "final negotiation failed"
	# B may keep SAs whose DELETE was lost; those are the only allowed extras. Let retransmissions
	# and half-open timers (phase1 15 s) run out, then count.
	sleep 20
	local drops; drops=$(in_ns B nft list table inet h3loss | grep -o 'packets [0-9]*' | awk '{s+=$2} END {print s}')
	local ph1a ph1b saa sab; ph1a=$(ph1_count A); ph1b=$(ph1_count B); saa=$(sa_count A); sab=$(sa_count B)
	note "lossy: negotiation times (ms):$times; IKE datagrams dropped at B: $drops; after 20 s: A ph1=$ph1a SAs=$saa, B ph1=$ph1b SAs=$sab"
	times=${times# }
	echo "lossy_ms=${times// /,} dropped=$drops a_sa=$saa b_sa=$sab b_ph1=$ph1b" >>"$RUN/metrics"
	[ "$saa" -eq 2 ] || fail "A holds $saa SAs (expected 2: leak or missing)"
	[ "$ph1a" -eq 1 ] || fail "A lists $ph1a phase 1s (expected 1)"
	sk B -D >"$RUN/B.sad"
	grep -q 'state=larval' "$RUN/B.sad" && fail "B keeps larval SAs from aborted Quick Modes"
	[ "$drops" -gt 0 ] || fail "nothing was dropped: the loss rule did not apply"
	tunnel_up A 10
}
start_ipsecd() { # start_ipsecd SIDE: a standalone engine with the TUN data plane
	local side=$1 dir=$RUN/$1
	rm -f "$dir/pfkey.sock"
	ip netns exec "$(ns "$side")" "$IPSECD_BIN" -F --pfkey-socket "$dir/pfkey.sock" --tun racoon0 -p "$dir/ipsecd.pid" \
		>>"$dir/ipsecd.log" 2>&1 &
	local pid=$!; reg pid "$pid"; eval "IPSECD_$side=$pid"
	wait_for 10 test -S "$dir/pfkey.sock" || fail "ipsecd ($side) did not open its socket"
}
sc_engine_restart() { # B runs a standalone ipsecd; it is killed -9 and restarted: racoon reconnects, traffic renegotiates
	[ -x "$IPSECD_BIN" ] || fail "$IPSECD_BIN missing"
	topology; conf A; conf B
	start B ipsecd
	start A
	both_ways
	local a_before; a_before=$(sa_spis A)
	kill -KILL "$IPSECD_B"; wait "$IPSECD_B" 2>/dev/null
	note "B's ipsecd killed (SIGKILL); racoon (B) must survive"
	sleep 1
	check_alive B
	start_ipsecd B
	sk B -f "$RUN/B/setkey.conf" >/dev/null || fail "setkey -f (B) after the engine restart"
	local t0; t0=$(date +%s)
	wait_for 40 ping_once A || fail "traffic did not resume within 40 s of the engine restart"
	local t1; t1=$(date +%s)
	tunnel_up B 15
	sleep 2
	grep -q 'reconnected to the engine' "$RUN/B/racoon.log" || fail "racoon (B) did not log its reconnection"
	local a_after; a_after=$(sa_spis A)
	note "engine restart: traffic back in $((t1 - t0)) s; A's SAs [$a_before] -> [$a_after]; SAs A=$(sa_count A) B=$(sa_count B)"
	[ "$(sa_count A)" -eq 2 ] && [ "$(sa_count B)" -eq 2 ] || fail "expected 2 SAs per side, got A=$(sa_count A) B=$(sa_count B)"
	[ "$a_after" != "$a_before" ] || fail "A still uses the SAs from before the engine restart"
	echo "engine_restart_recovery_s=$((t1 - t0))" >>"$RUN/metrics"
}
sc_racoon_restart_standalone() { # B: ipsecd keeps the SAs while racoon is killed -9 and restarted
	topology; conf A; conf B
	start B ipsecd
	start A
	both_ways
	local b_before; b_before=$(sa_spis B)
	kill -KILL "$PID_B"; wait "$PID_B" 2>/dev/null
	ping_once A 3 >/dev/null || fail "traffic stopped although ipsecd still holds the SAs"
	# start racoon again on the running engine (no setkey: the policies are still there)
	local dir=$RUN/B
	rm -f "$dir/racoon.sock"
	ip netns exec "$NS_B" "$RACOON_BIN" -F -f "$dir/racoon.conf" --pfkey-socket "$dir/pfkey.sock" --no-embedded-engine \
		>>"$dir/racoon.out" 2>>"$dir/racoon.log" &
	PID_B=$!; reg pid "$PID_B"
	wait_for 20 test -S "$dir/racoon.sock" || fail "racoon (B) did not restart"
	[ "$(sa_spis B)" = "$b_before" ] || fail "B's SAs changed across the racoon restart"
	ping_once A 3 >/dev/null || fail "traffic stopped after racoon's restart"
	# B renegotiates (new phase 1 with INITIAL-CONTACT, new phase 2)
	ctl B establish-sa isakmp inet 192.0.2.2 192.0.2.1 || fail "establish-sa isakmp (B)"
	wait_for 15 is ph1_established B -ge 1 || fail "B: no phase 1"
	ctl B establish-sa esp inet 198.51.100.64/26 198.51.100.0/26 any || fail "establish-sa esp (B)"
	sleep 3
	both_ways
	local b_after; b_after=$(sa_spis B)
	note "racoon restart on a running engine: B's SAs [$b_before] -> [$b_after]; A=$(sa_count A) B=$(sa_count B)"
	echo "b_sa_after=$(sa_count B) a_sa_after=$(sa_count A)" >>"$RUN/metrics"
	[ "$(sa_count A)" -eq 2 ] || fail "A holds $(sa_count A) SAs (INITIAL-CONTACT should have replaced the old pair)"
	[ "$(sa_count B)" -eq 2 ] || fail "B holds $(sa_count B) SAs: the ones from before racoon's restart were left behind"
	for spi in $b_before; do
		case " $b_after " in *" $spi "*) fail "B still holds SA $spi from before racoon's restart" ;; esac
	done
}
sc_acquire_storm() { # a /16 behind B whose QM B refuses: 2,000 destinations -> ACQUIREs; A stays bounded, the tunnel works
	topology; conf A; conf B
	cat >>"$RUN/A/setkey.conf" <<EOF
spdadd 198.51.100.0/26 10.200.0.0/16 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/unique;
spdadd 10.200.0.0/16 198.51.100.0/26 any -P in ipsec esp/tunnel/192.0.2.2-192.0.2.1/unique;
EOF
	cat >>"$RUN/A/racoon.conf" <<EOF
sainfo address 198.51.100.0/26 any address 10.200.0.0/16 any {
	lifetime time 3600 sec;
	encryption_algorithm aes 128;
	authentication_algorithm hmac_sha1;
	compression_algorithm deflate;
}
EOF
	start B; start A
	both_ways
	local rss0; rss0=$(ps -o rss= -p "$PID_A" | tr -d ' ')
	# 2,000 UDP datagrams to distinct destinations of the /16, 4 s
	in_ns A "$PY" -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.51.100.1", 0))
t = time.monotonic()
for i in range(2000):
    try:
        s.sendto(b"x", ("10.200.%d.%d" % (i // 250, i % 250 + 1), 9))
    except OSError:
        pass
    time.sleep(0.002)
print("sent 2000 in %.1f s" % (time.monotonic() - t))
' >"$RUN/storm.out" 2>&1 || fail "storm sender"
	sleep 2
	check_alive A B
	ping_once A 3 >/dev/null || fail "the established tunnel stopped during the ACQUIRE storm"
	local acq; acq=$(grep -c 'initiate new phase 2' "$RUN/A/racoon.log" || true)
	local rss; rss=$(ps -o rss= -p "$PID_A" | tr -d ' ')
	note "ACQUIRE storm: $(cat "$RUN/storm.out"); A started $acq phase 2s; A RSS $rss0 -> $rss KiB; SAs A=$(sa_count A)"
	echo "phase2_starts=$acq rss_before_kib=$rss0 rss_after_kib=$rss" >>"$RUN/metrics"
	[ "$rss" -le $((rss0 + 65536)) ] || fail "A's RSS grew by more than 64 MiB"
	[ "$acq" -ge 2 ] || fail "the storm triggered no phase 2 at all (no ACQUIRE reached racoon)"
	# the refused phase 2 ends (B's INVALID-ID-INFORMATION, else timer phase2 15 s) and racoon
	# DELETEs its larval (GETSPI) SA: gone well before the engine's own 30 s larval expiry
	local t0; t0=$(date +%s)
	wait_for 12 is sa_count A -eq 2 || fail "A holds $(sa_count A) SAs 12 s after the storm (larval SA left behind; expected the 2 of the tunnel)"
	note "the larval SA was gone $(($(date +%s) - t0)) s after the storm ($(grep -c 'deleting larval SA' "$RUN/A/racoon.log" || true) larval DELETEs logged)"
	check_alive A
	tunnel_up A 10
}
sc_clock_jump() { # A's wall clock jumps +2 h, then -3 h (libfaketime; monotonic untouched): SAs and traffic unaffected
	FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
	[ -n "$FAKETIME_LIB" ] || skip "libfaketime not installed (Debian package faketime)"
	P1LIFE=3600 P2LIFE=3600 DPD=5
	topology; conf A; conf B
	echo "+0" >"$RUN/faketime"
	start B; start A
	both_ways
	local spis_a spis_b; spis_a=$(sa_spis A); spis_b=$(sa_spis B)
	local jump
	for jump in "+2h" "-3h"; do
		echo "$jump" >"$RUN/faketime"
		sleep 8 # past the cache (1 s) and a DPD round (5 s)
		check_alive A B
		ping_once A 3 >/dev/null || fail "traffic A->B failed after a wall-clock jump of $jump"
		ping_once B 3 >/dev/null || fail "traffic B->A failed after a wall-clock jump of $jump"
		[ "$(sa_spis A)" = "$spis_a" ] || fail "A's SAs changed after a wall-clock jump of $jump: [$spis_a] -> [$(sa_spis A)]"
		[ "$(sa_spis B)" = "$spis_b" ] || fail "B's SAs changed after A's wall-clock jump of $jump"
		[ "$(ph1_established A)" -eq 1 ] || fail "A's phase 1 is gone after a wall-clock jump of $jump"
		note "wall clock $jump: A's log time now $(tail -1 "$RUN/A/racoon.log" | cut -c1-19); SAs and phase 1 unchanged, traffic both ways"
	done
	grep -q "$(date -u -d '+2 hours' +%Y-%m-%d\ %H)" "$RUN/A/racoon.log" || note "(A's log shows no +2 h timestamp: was the jump applied?)"
}
sc_rekey() { # 20 s phase-2 lifetime, 60 s of ping -i 0.2: at most a handful lost
	P2LIFE=20
	topology; conf A; conf B; start B; start A
	both_ways
	local out; out=$(in_ns A ping -q -c 300 -i 0.2 -W 1 -I 198.51.100.1 198.51.100.65 2>&1)
	local tx rx; tx=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1/p')
	rx=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\2/p')
	local lost=$((tx - rx))
	local ph2; ph2=$(grep -c 'INFO: Phase 2 established' "$RUN/A/racoon.log" || true)
	note "rekey: $tx sent, $rx received, $lost lost; A log phase-2 establishments: $ph2; SAs now A=$(sa_count A) B=$(sa_count B)"
	echo "rekey_sent=$tx rekey_lost=$lost" >>"$RUN/metrics"
	[ "$ph2" -ge 3 ] || fail "expected at least 3 phase-2 negotiations in 60 s with a 20 s lifetime, saw $ph2"
	[ "$lost" -le 5 ] || fail "$lost of $tx pings lost across rekeys (limit 5)"
	[ "$(sa_count A)" -le 6 ] || fail "A accumulates SAs: $(sa_count A)"
}
hostile_setup() {
	topology; conf A; conf B; start B; start A
	both_ways
	sleep 1
	SPIS_A=$(sa_spis A); SPIS_B=$(sa_spis B)
	COOKIES=$(ctl B show-sa isakmp | awk 'NR>1 {print $2}' | head -1)
	[ -n "$COOKIES" ] || fail "no phase-1 cookies on B"
	RSS0=$(ps -o rss= -p "$PID_B" | tr -d ' ')
}
hostile_verify() { # traffic, SAs unchanged, then a fresh negotiation
	check_alive A B
	ping_once A 3 >/dev/null || fail "the established tunnel lost traffic"
	[ "$(sa_spis A)" = "$SPIS_A" ] || fail "A's SAs changed: [$SPIS_A] -> [$(sa_spis A)]"
	[ "$(sa_spis B)" = "$SPIS_B" ] || fail "B's SAs changed: [$SPIS_B] -> [$(sa_spis B)]"
	local rss; rss=$(ps -o rss= -p "$PID_B" | tr -d ' ')
	note "B RSS ${RSS0} KiB before, ${rss} KiB after; SAs unchanged (A: $SPIS_A)"
	echo "rss_before_kib=$RSS0 rss_after_kib=$rss" >>"$RUN/metrics"
	[ "$rss" -le $((RSS0 + 65536)) ] || fail "B's RSS grew by more than 64 MiB"
	# a new negotiation: A deletes everything with B, traffic renegotiates
	ctl A delete-sa isakmp inet 192.0.2.1 192.0.2.2 >/dev/null 2>&1 || fail "racoonctl delete-sa on A failed"
	wait_for 10 is sa_count A -eq 0 || fail "A kept $(sa_count A) SAs after delete-sa"
	tunnel_up A 30
	[ "$(sa_spis A)" != "$SPIS_A" ] || fail "no new SAs after renegotiation"
	check_alive A B
}
sc_hostile() { # libreswan crashers, zeek malformed, truncated, oversized, garbage at 500/4500
	hostile_setup
	in_ns A "$PY" "$CRAFT" corpus 192.0.2.2 >"$RUN/craft.out" 2>&1 || { cat "$RUN/craft.out" >&2; fail "ikecraft corpus"; }
	note "$(tail -1 "$RUN/craft.out")"
	sleep 2
	hostile_verify
}
sc_cve() { # one crafted input set per racoon CVE against a daemon holding an SA
	LOGLEVEL=info
	hostile_setup
	local c spis
	spis=$(echo "$SPIS_B $SPIS_A" | tr ' ' '\n' | grep . | tr '\n' ',')
	for c in $("$PY" "$CRAFT" list-cves); do
		in_ns A "$PY" "$CRAFT" cve "$c" 192.0.2.2 --src 192.0.2.1 --cookies "$COOKIES" --spis "$spis" --count 300 \
			>>"$RUN/craft.out" 2>&1 || { tail "$RUN/craft.out" >&2; fail "ikecraft cve $c"; }
		check_alive B
		[ "$(sa_spis B)" = "$SPIS_B" ] || fail "$c changed B's SAs: [$SPIS_B] -> [$(sa_spis B)]"
		note "$(tail -1 "$RUN/craft.out"); B alive, SAs unchanged"
	done
	sleep 2
	[ "$(ph1_established B)" -ge 1 ] || fail "B lost its established phase 1"
	hostile_verify
}
sc_socket_abuse() { # 100 connections each to the admin and PF_KEY sockets: garbage, lying lengths, idle holders
	topology; conf A; conf B; start B; start A
	both_ways
	local spis; spis=$(sa_spis A)
	"$PY" - "$RUN/A/racoon.sock" "$RUN/A/pfkey.sock" >"$RUN/abuse.out" 2>&1 <<'PYABUSE' || { cat "$RUN/abuse.out" >&2; fail "abuse client"; }
import os, socket, struct, sys, time
admin, pfkey = sys.argv[1], sys.argv[2]
held, refused, sent = [], 0, 0
payloads = [b"", b"\xff" * 8, struct.pack("=HHHH", 0xFFFF, 0x8101, 0, 0) + b"x" * 100,
            struct.pack("=HHHH", 8, 0x8003, 0, 0), os.urandom(3000)]
for kind, path in (("admin", admin), ("pfkey", pfkey)):
    for i in range(100):
        typ = socket.SOCK_STREAM if kind == "admin" else socket.SOCK_SEQPACKET
        s = socket.socket(socket.AF_UNIX, typ)
        s.settimeout(1)
        try:
            s.connect(path)
            p = payloads[i % len(payloads)]
            if kind == "pfkey" and not p:
                p = b"\x02" + os.urandom(15)  # PF_KEY v2 header with random fields
            if p:
                s.send(p)
                sent += 1
            held.append(s)
        except OSError:
            refused += 1
            s.close()
print(f"held {len(held)} connections, {refused} refused, {sent} garbage messages sent")
time.sleep(7)  # past the admin read timeout (5 s)
for s in held:
    s.close()
PYABUSE
	note "$(cat "$RUN/abuse.out")"
	check_alive A B
	ctl A show-sa isakmp >/dev/null || fail "racoonctl does not work after the abuse"
	[ "$(sa_spis A)" = "$spis" ] || fail "the abuse changed A's SAs"
	ping_once A 3 >/dev/null || fail "tunnel traffic failed after the abuse"
}
sc_flood_aggressive() { # the same with Aggressive Mode first messages (a DH computation each)
	FLOOD_AGGR=1 sc_flood
}
sc_flood() { # half-open MM1 flood from 1000 spoofed 10.x sources; tunnel + new negotiation hold
	ANON_B=0
	topology
	mk_ns "$NS_F"
	must ip link add "h3${TOK}f" netns "$NS_F" type veth peer name "h3${TOK}g" netns "$NS_B"
	must ip -n "$NS_F" addr add 10.99.0.1/30 dev "h3${TOK}f"
	must ip -n "$NS_B" addr add 10.99.0.2/30 dev "h3${TOK}g"
	must ip -n "$NS_F" link set "h3${TOK}f" up
	must ip -n "$NS_B" link set "h3${TOK}g" up
	# flood sources 10.77.0.0/16 live "behind" F: B's replies go there and die
	must ip -n "$NS_B" route add 10.77.0.0/16 via 10.99.0.1
	must ip -n "$NS_F" route add 192.0.2.0/24 via 10.99.0.2
	conf A
	# B: the site-to-site remote for A plus `remote anonymous`, so flood sources
	# are accepted as peers and create half-open state (the worst case).
	conf B
	cat >>"$RUN/B/racoon.conf" <<EOF
remote anonymous {
	exchange_mode main, aggressive;
	passive on;
	proposal {
		encryption_algorithm aes 128;
		hash_algorithm sha1;
		authentication_method pre_shared_key;
		dh_group modp2048;
	}
}
EOF
	start B; start A
	both_ways
	in_ns F "$PY" "$CRAFT" flood 192.0.2.2 --sources 10.77.0.0/16 --n-sources 1000 --count "${FLOOD_COUNT:-5000}" --seconds 10 \
		${FLOOD_AGGR:+--aggressive} >"$RUN/flood.out" 2>&1 &
	local flood_pid=$!; reg pid "$flood_pid"
	# 1) the established tunnel during the flood's first 5 s
	in_ns A ping -q -c 25 -i 0.2 -W 1 -I 198.51.100.1 198.51.100.65 >"$RUN/ping_during.out" 2>&1
	local loss; loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$RUN/ping_during.out")
	local half; half=$(ph1_count B)
	note "5 s into the flood: B lists $half phase-1 SAs; tunnel ping: $(grep 'packets transmitted' "$RUN/ping_during.out")"
	# 2) a new legitimate negotiation while the flood goes on: A deletes and renegotiates phase 1 + 2
	ctl A delete-sa isakmp inet 192.0.2.1 192.0.2.2 >/dev/null 2>&1 || fail "racoonctl delete-sa on A failed"
	local t0; t0=$(date +%s%3N)
	wait_for 30 renegotiated A || {
		tail -5 "$RUN/B/racoon.log" >&2
		fail "a new negotiation did not complete during the flood"
	}
	local t1; t1=$(date +%s%3N)
	local during; during=$(kill -0 "$flood_pid" 2>/dev/null && echo yes || echo no)
	wait "$flood_pid"; note "$(cat "$RUN/flood.out")"
	check_alive A B
	tunnel_up A 10
	# 3) one source alone: the per-peer limit drops what exceeds its share
	in_ns F "$PY" "$CRAFT" flood 192.0.2.2 --sources 10.78.0.0/30 --n-sources 1 --count 200 --seconds 2 \
		>>"$RUN/flood.out" 2>&1 || fail "single-source flood"
	local single; single=$(ctl B show-sa isakmp | grep -c '^10\.78\.0\.1\.' || true)
	check_alive A B
	# 4) spoofing the configured peer (A = 192.0.2.1) must not lock it out: 40 MM1 "from" A,
	#    then A renegotiates at once
	in_ns B sysctl -qw net.ipv4.conf.all.rp_filter=0 "net.ipv4.conf.h3${TOK}g.rp_filter=0"
	in_ns F "$PY" "$CRAFT" flood 192.0.2.2 --sources 192.0.2.1/32 --count 40 --seconds 1 >>"$RUN/flood.out" 2>&1 ||
		fail "spoofed-peer flood"
	local spoofed; spoofed=$(ctl B -l show-sa isakmp | awk 'NR>1 && $1 ~ /^192\.0\.2\.1\./ && $3 != 9' | wc -l)
	ctl A delete-sa isakmp inet 192.0.2.1 192.0.2.2 >/dev/null 2>&1 || fail "racoonctl delete-sa on A failed"
	local t2; t2=$(date +%s%3N)
	wait_for 10 renegotiated A || fail "A could not renegotiate after its address was spoofed 40 times"
	local spoof_ms=$(($(date +%s%3N) - t2))
	note "spoofed configured peer: B held $spoofed half-open from 192.0.2.1; A renegotiated in $spoof_ms ms"
	echo "spoofed_peer_half_open=$spoofed spoofed_peer_renegotiation_ms=$spoof_ms" >>"$RUN/metrics"
	check_alive A B
	kill -TERM "$PID_B"; wait "$PID_B" 2>/dev/null
	local lim; lim=$(grep -o 'half-open limit: [0-9]* dropped, [0-9]* evicted, [0-9]* shed' "$RUN/B/racoon.log" | tail -1)
	note "flood: new negotiation took $((t1 - t0)) ms (flood still running then: $during); B's $lim; B phase-1 entries 5 s in: $half; one source holds $single"
	echo "flood_new_negotiation_ms=$((t1 - t0)) flood_ping_loss_pct=$loss b_ph1_5s=$half b_${lim// /_}" >>"$RUN/metrics"
	[ "$during" = yes ] || fail "the new negotiation only completed after the flood had ended"
	[ "$single" -le 8 ] || fail "one source holds $single half-open phase 1s (per-peer limit 8)"
	local dropped; dropped=$(echo "$lim" | sed -n 's/.*: \([0-9]*\) dropped.*/\1/p')
	# (under load some of them are shed before the per-peer check: require a clear share only)
	[ "${dropped:-0}" -ge 50 ] || fail "the per-peer limit dropped only ${dropped:-0} of 200 first messages from one source"
	[ "${loss%.*}" -le 8 ] || fail "the established tunnel lost ${loss}% of pings during the flood"
}

run_one() {
	SCENARIO=$1
	TOK=$(printf '%04x' $((RANDOM % 65536)))
	NS_A=h3n${TOK}a NS_B=h3n${TOK}b NS_N=h3n${TOK}n NS_F=h3n${TOK}f
	RUN=$OUT/$SCENARIO
	rm -rf "$RUN"; mkdir -p "$RUN"
	REGISTRY=$RUN/registry; : >"$REGISTRY"
	trap 'cleanup_registry "$REGISTRY"' EXIT
	trap 'exit 1' INT TERM HUP
	export RUN
	local fn="sc_${SCENARIO//-/_}"
	declare -F "$fn" >/dev/null || fail "unknown scenario $SCENARIO"
	"$fn"
	# secrets never reach the logs (debug level included; no --log-keys-INSECURE here)
	if grep -rl "h3n-test-key\|wrong-key-h3n" "$RUN"/*/racoon.log "$RUN"/*/racoon.out 2>/dev/null; then
		fail "a pre-shared key appears in a log"
	fi
	log "PASS $SCENARIO"
}

# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------
if [ "${1:-}" = --list ]; then echo "$ALL" | tr ' ' '\n'; exit 0; fi
if [ "${1:-}" = --one ]; then OUT=$2; run_one "$3"; exit 0; fi

if [ "$(id -u)" -ne 0 ]; then echo "SKIPPED: tests/netns/run.sh needs root (network namespaces)"; exit 77; fi
if ! ip netns list >/dev/null 2>&1; then echo "SKIPPED: 'ip netns' is not available"; exit 77; fi
for t in ip ping nft "$PY" timeout tac; do
	command -v "$t" >/dev/null || { echo "SKIPPED: tests/netns/run.sh needs '$t'"; exit 77; }
done
for b in "$RACOON_BIN" "$RACOONCTL_BIN" "$SETKEY_BIN"; do
	[ -x "$b" ] || { echo "FAIL: $b missing (cargo build -p racoon-rs -p setkey-rs)"; exit 1; }
done

SEL=${*:-$ALL}
OUT=${NETNS_OUT:-$(mktemp -d /tmp/h3n-run.XXXXXX)}
mkdir -p "$OUT"
pass=0; failn=0; failed=""; skipn=0
for s in $SEL; do
	t0=$(date +%s)
	timeout -k 10 "$SCENARIO_TIMEOUT" bash "$0" --one "$OUT" "$s" 2>"$OUT/$s.stderr"
	rc=$?
	# a scenario killed by timeout cannot run its trap: clean its registry here
	cleanup_registry "$OUT/$s/registry" 2>/dev/null
	dt=$(($(date +%s) - t0))
	m=""; [ -f "$OUT/$s/metrics" ] && m=" [$(tr '\n' ' ' <"$OUT/$s/metrics")]"
	if [ "$rc" -eq 0 ]; then
		pass=$((pass + 1)); echo "PASS $s (${dt}s)$m"
	elif [ "$rc" -eq 77 ] && [ -f "$OUT/$s/skip_reason" ]; then
		skipn=$((skipn + 1)); echo "SKIP $s: $(cat "$OUT/$s/skip_reason")"
	else
		failn=$((failn + 1)); failed="$failed $s"
		why=$(cat "$OUT/$s/fail_reason" 2>/dev/null || echo "exit $rc (timeout?)")
		echo "FAIL $s (${dt}s): $why"
		sed 's/^/    /' "$OUT/$s.stderr" | tail -n 15
	fi
done
echo "netns: $pass passed, $failn failed${failed:+ ($failed )}, $skipn skipped; logs in $OUT"
[ "$failn" -eq 0 ]
