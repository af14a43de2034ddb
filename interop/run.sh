#!/usr/bin/env bash
# Interop runner: racoon-rs (or a second strongSwan) against strongSwan 5.9 + kernel-libipsec,
# each scenario in its own uniquely named network namespaces. See interop/README.md.
#
#   interop/run.sh [--strict] [--list] [SCENARIO[:ROLE] ...]
#
# Without arguments every directory under interop/scenarios/ runs, once per role it lists.
# Exit status: 0 when no scenario FAILed (PENDING does not fail unless --strict), 1 otherwise,
# 2 on usage errors or when a required tool is missing.
#
# Environment: RACOON_BIN, SETKEY_BIN, RACOONCTL_BIN (default: target/release/... when that
# is at least as new as target/debug/..., else target/debug/...),
# INTEROP_WORK (directory for logs and captures; default a new /tmp/interop.XXXXXX),
# INTEROP_RESULTS (append the result rows, tab separated, to this file too),
# INTEROP_SCENARIO_TIMEOUT (seconds per scenario run, default 240).
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
SCEN_ROOT=$HERE/scenarios
newest_bin() { # newest_bin NAME: target/release/NAME or target/debug/NAME, the newer one
    local r=$ROOT/target/release/$1 d=$ROOT/target/debug/$1
    if [ -x "$r" ] && { [ ! -x "$d" ] || [ ! "$d" -nt "$r" ]; }; then echo "$r"; else echo "$d"; fi
}
# release binaries when built (.ci/run builds them), so that the throughput column means
# something; a debug build that is newer wins (a developer's edit-build-run loop)
RACOON_BIN=${RACOON_BIN:-$(newest_bin racoon)}
SETKEY_BIN=${SETKEY_BIN:-$(newest_bin setkey)}
RACOONCTL_BIN=${RACOONCTL_BIN:-$(newest_bin racoonctl)}
CHARON=${CHARON:-/usr/sbin/charon-systemd}
SCENARIO_TIMEOUT=${INTEROP_SCENARIO_TIMEOUT:-240}
export RACOON_BIN SETKEY_BIN RACOONCTL_BIN CHARON

log() { printf '%s %s\n' "$(date +%T.%3N)" "$*" >&2; }
now_ms() { date +%s%3N; }

# ---------------------------------------------------------------------------------------------
# Resource registry: every process and namespace we create is written here first, so that the
# EXIT trap (of this process and of the parent) can remove exactly what we made, by PID and by
# namespace name. Never by process name.
# ---------------------------------------------------------------------------------------------
REGISTRY=${REGISTRY:-}
reg() { [ -n "$REGISTRY" ] && printf '%s %s\n' "$1" "$2" >>"$REGISTRY"; }

stop_pid() { # stop_pid PID: TERM, wait up to 3 s, then KILL
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    for i in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

cleanup_registry() { # processes first (newest first), then whatever still lives in our netns
    local reg=$1 kind val pid
    [ -f "$reg" ] || return 0
    while read -r kind val; do
        [ "$kind" = pid ] && stop_pid "$val"
    done < <(tac "$reg")
    while read -r kind val; do
        [ "$kind" = ns ] || continue
        ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$val" || continue
        for pid in $(ip netns pids "$val" 2>/dev/null); do stop_pid "$pid"; done
        ip netns del "$val" 2>/dev/null
    done < <(tac "$reg")
    cat "$reg" >>"$reg.done"; : >"$reg"
}

# ---------------------------------------------------------------------------------------------
# Helpers for scenario `checks` scripts (sourced in the single-scenario process).
# Sides: A = our side (racoon-rs, or strongSwan in baseline scenarios), B = strongSwan.
# ---------------------------------------------------------------------------------------------
fail() { log "FAIL: $*"; echo "$*" >"$RUN/fail_reason"; exit 1; }
note() { log "$*"; }
ns_of() { case $1 in A) echo "$NS_A" ;; B) echo "$NS_B" ;; N) echo "$NS_N" ;; *) fail "bad side $1" ;; esac; }
in_ns() { local ns; ns=$(ns_of "$1"); shift; ip netns exec "$ns" "$@"; }
side_kind() { if [ "$1" = A ]; then echo "$SIDE_A"; else echo strongswan; fi; }

sw() { # sw SIDE swanctl-args...: swanctl against that side's charon (bounded)
    local side=$1; shift
    [ "$(side_kind "$side")" = strongswan ] || fail "sw: side $side is not strongSwan"
    STRONGSWAN_CONF=$RUN/$side/strongswan.conf SWANCTL_DIR=$RUN/$side/swanctl \
        timeout 30 swanctl "$@"
}

our_setkey() { # our_setkey ARGS...: racoon-rs' setkey against our engine, inside netns A
    PFKEY_SOCKET=$RUN/A/pfkey.sock timeout 10 ip netns exec "$NS_A" "$SETKEY_BIN" "$@"
}

sa_count() { # sa_count SIDE [CHILD]: installed child SAs (strongSwan) or SAD entries (ours)
    local side=$1 child=${2:-}
    if [ "$(side_kind "$side")" = strongswan ]; then
        if [ -n "$child" ]; then
            sw "$side" --list-sas 2>/dev/null | grep -Ec "^ +$child: #[0-9]+, reqid [0-9]+, INSTALLED" || true
        else
            sw "$side" --list-sas 2>/dev/null | grep -Ec ", INSTALLED," || true
        fi
    else
        our_setkey -D 2>/dev/null | grep -Ec '^[0-9a-f:.]+(\[[0-9]+\])? [0-9a-f:.]+(\[[0-9]+\])? ?$' || true
    fi
}

ike_count() { # ike_count SIDE: established IKE SAs (strongSwan only)
    sw "$1" --list-sas 2>/dev/null | grep -Ec ": #[0-9]+, ESTABLISHED, IKEv1" || true
}

wait_for() { # wait_for SECONDS CMD...: poll every 0.1 s until CMD succeeds
    local deadline=$(( $(now_ms) + $1 * 1000 )); shift
    while [ "$(now_ms)" -lt "$deadline" ]; do "$@" && return 0; sleep 0.1; done
    return 1
}

has_child() { [ "$(sa_count "$1" "${2:-}")" -ge "${3:-1}" ]; }

initiate() { # initiate [CHILD] [COUNT] [RESPONDER_CHILD]: bring the tunnel up; records time
    local child=${1:-$CHILD} want=${2:-1} rchild=${3:-${1:-$CHILD}} t0 t1 deadline
    t0=$(now_ms)
    if [ "$(side_kind "$INITIATOR")" = strongswan ]; then
        sw "$INITIATOR" --initiate --child "$child" --timeout "$EST_TIMEOUT" >>"$RUN/swanctl.out" 2>&1 ||
            fail "swanctl --initiate --child $child failed on side $INITIATOR"
    else
        # racoon-rs initiates from traffic (ACQUIRE): one ping a second until the peer has the SA
        deadline=$(( t0 + EST_TIMEOUT * 1000 ))
        while [ "$(now_ms)" -lt "$deadline" ] && ! has_child "$RESPONDER" "$rchild" "$want"; do
            if [ -n "${TRIGGER_CMD:-}" ]; then
                eval "$TRIGGER_CMD" || sleep 0.5
            else
                # a short wait: the first packets only trigger the ACQUIRE, and the loop
                # should notice the responder's SA soon after it appears
                in_ns A ping -n -q -c 1 -W 0.3 -I "${TRIGGER_SRC:-$IN_A}" "${TRIGGER_DST:-$IN_B}" >/dev/null 2>&1
            fi
        done
    fi
    wait_for "$EST_TIMEOUT" has_child "$RESPONDER" "$rchild" "$want" ||
        fail "child $rchild not installed on responder $RESPONDER within ${EST_TIMEOUT}s"
    wait_for 5 has_child "$INITIATOR" "$child" "$want" ||
        fail "child $child not installed on initiator $INITIATOR"
    t1=$(now_ms)
    [ -n "$ESTABLISH_MS" ] || { ESTABLISH_MS=$((t1 - t0)); echo "$ESTABLISH_MS" >"$RUN/establish_ms"; }
    note "child $child up in $((t1 - t0)) ms (initiator $INITIATOR)"
}

no_sa() { [ "$(sa_count "$1")" -eq 0 ]; } # no_sa SIDE

expect_no_sa() { # expect_no_sa [SECONDS]: neither side has a child SA for that long
    local secs=${1:-3} i
    for i in $(seq 1 "$secs"); do
        [ "$(sa_count B)" -eq 0 ] || fail "side B has a child SA"
        [ "$(sa_count A)" -eq 0 ] || fail "side A has a child SA"
        sleep 1
    done
}

try_initiate() { # try_initiate [CHILD]: an attempt that is expected to fail; never fails itself
    local child=${1:-$CHILD} i
    if [ "$(side_kind "$INITIATOR")" = strongswan ]; then
        sw "$INITIATOR" --initiate --child "$child" --timeout "$EST_TIMEOUT" >>"$RUN/swanctl.out" 2>&1 || true
    else
        for i in $(seq 1 "$EST_TIMEOUT"); do
            in_ns A ping -n -q -c 1 -W 1 -I "$IN_A" "$IN_B" >/dev/null 2>&1 && break
        done
    fi
}

log_has() { # log_has SIDE ERE: the side's daemon log matches
    local f=$RUN/$1/charon.log
    [ "$(side_kind "$1")" = strongswan ] || f=$RUN/$1/daemon.out
    grep -Eq -- "$2" "$f" 2>/dev/null
}

ping_one() { # ping_one SIDE SRC DST [COUNT]
    in_ns "$1" ping -n -q -c "${4:-3}" -i 0.2 -W 2 -I "$2" "$3" >>"$RUN/ping.out" 2>&1
}

ping_both() { # ping_both [A_ADDR B_ADDR]: through the tunnel in both directions
    local a=${1:-$IN_A} b=${2:-$IN_B}
    ping_one A "$a" "$b" || fail "ping $a -> $b failed"
    ping_one B "$b" "$a" || fail "ping $b -> $a failed"
    note "ping $a <-> $b ok"
}

expect_no_ping() { # expect_no_ping SIDE SRC DST: traffic outside the selectors must not pass
    ! in_ns "$1" ping -n -q -c 2 -i 0.2 -W 1 -I "$2" "$3" >>"$RUN/ping.out" 2>&1 ||
        fail "ping $2 -> $3 passed but should not"
}

IPERF_PIDS=()
iperf() { # iperf LABEL SECONDS [PORT] [A_ADDR B_ADDR]: TCP A -> B through the tunnel, records Mbit/s
    # a 1 s run while the wire is captured (so the bulk data is checked too), then the measured
    # run with the capture paused, so that dumpcap does not eat the CPU being measured
    local label=$1 secs=$2 port=${3:-5201} a=${4:-$IN_A} b=${5:-$IN_B} mbit
    iperf_run "$label-probe" 1 "$port" "$a" "$b" >/dev/null
    local capturing=$CAP_PID
    capture_stop
    mbit=$(iperf_run "$label" "$secs" "$port" "$a" "$b") || fail "iperf3 $label failed"
    [ -n "$capturing" ] && capture_start
    printf '%s=%s ' "$label" "$mbit" >>"$RUN/throughput"
    note "throughput $label: $mbit Mbit/s"
}

iperf_run() { # iperf_run LABEL SECONDS PORT A_ADDR B_ADDR: prints the receiver's Mbit/s
    local label=$1 secs=$2 port=$3 a=$4 b=$5 spid mbit
    in_ns B iperf3 -s -1 -B "$b" -p "$port" >"$RUN/iperf-server-$label.out" 2>&1 &
    spid=$!; reg pid "$spid"; disown "$spid"
    wait_for 5 sh -c "ip netns exec $NS_B ss -Hltn 'sport = :$port' | grep -q LISTEN" ||
        fail "iperf3 server did not start"
    timeout $((secs + 20)) ip netns exec "$NS_A" iperf3 -c "$b" -B "$a" -p "$port" -t "$secs" \
        -f m --connect-timeout 3000 >"$RUN/iperf-$label.out" 2>&1 ||
        { stop_pid "$spid"; fail "iperf3 $label failed (see iperf-$label.out)"; }
    stop_pid "$spid"
    mbit=$(awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") print $(i-1) }' \
        "$RUN/iperf-$label.out" | tail -1)
    [ -n "$mbit" ] || fail "no iperf3 receiver rate for $label"
    echo "$mbit"
}

kill_side() { # kill_side SIDE [SIGNAL]: stop that side's daemon (default SIGKILL)
    local pid; pid=$(cat "$RUN/$1/daemon.pid")
    kill "-${2:-KILL}" "$pid" 2>/dev/null
    wait_for 5 sh -c "! kill -0 $pid 2>/dev/null" || fail "side $1 daemon $pid did not stop"
}

restart_side() { start_side "$1" || fail "restart of side $1 failed"; }

# ---------------------------------------------------------------------------------------------
# Topology
# ---------------------------------------------------------------------------------------------
template() { # template SRC DST SIDE: substitute @DIR@ @A_LOCAL@ @A_PEER@ @B_LOCAL@ @B_PEER@
    sed -e "s|@DIR@|$RUN/$3|g" -e "s|@A_LOCAL@|$A_LOCAL|g" -e "s|@A_PEER@|$A_PEER|g" \
        -e "s|@B_LOCAL@|$B_LOCAL|g" -e "s|@B_PEER@|$B_PEER|g" -e "s|@IN_A@|$IN_A|g" \
        -e "s|@IN_B@|$IN_B|g" "$1" >"$2"
}

ns_base() { # loopback up, no IPv6 noise, no default route ever
    ip -n "$1" link set lo up
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

must() { "$@" || fail "setup failed: $*"; }

mk_ns() { reg ns "$1"; ip netns add "$1" || fail "ip netns add $1"; ns_base "$1"; }

setup_net() {
    local tok=$1 cidr
    NS_A=ri${tok}a NS_B=ri${tok}b NS_N=ri${tok}n
    VETH_A=ri${tok}va VETH_B=ri${tok}vb VETH_NA=ri${tok}na VETH_NB=ri${tok}nb
    mk_ns "$NS_A"; mk_ns "$NS_B"
    case $NAT in
    no)
        A_LOCAL=192.0.2.1 A_PEER=192.0.2.2 B_LOCAL=192.0.2.2 B_PEER=192.0.2.1
        must ip link add "$VETH_A" netns "$NS_A" type veth peer name "$VETH_B" netns "$NS_B"
        must ip -n "$NS_A" addr add 192.0.2.1/24 dev "$VETH_A"
        must ip -n "$NS_B" addr add 192.0.2.2/24 dev "$VETH_B"
        must ip -n "$NS_A" link set "$VETH_A" up; must ip -n "$NS_B" link set "$VETH_B" up
        CAPTURE_NS=$NS_B CAPTURE_IF=$VETH_B
        ;;
    initiator|A|B)
        # the NATed side sits in 10.0.0.0/8 behind namespace N, which masquerades onto
        # 192.0.2.0/24 with the address the peer expects; so each peer sees the other at its
        # usual 192.0.2.x address and only the NATed side's own address changes
        local behind=$NAT pub
        [ "$behind" = initiator ] && behind=$INITIATOR
        [ "$behind" = A ] && pub=B || pub=A
        mk_ns "$NS_N"
        # each side's interface keeps its side's name (VETH_A in A, VETH_B in B)
        local inner_if=$VETH_A pub_if=$VETH_B
        [ "$behind" = B ] && inner_if=$VETH_B pub_if=$VETH_A
        must ip link add "$VETH_NA" netns "$NS_N" type veth peer name "$inner_if" netns "$(ns_of "$behind")"
        must ip link add "$VETH_NB" netns "$NS_N" type veth peer name "$pub_if" netns "$(ns_of "$pub")"
        must ip -n "$(ns_of "$behind")" addr add 10.0.0.2/8 dev "$inner_if"
        must ip -n "$NS_N" addr add 10.0.0.1/8 dev "$VETH_NA"
        if [ "$pub" = B ]; then
            must ip -n "$NS_N" addr add 192.0.2.1/24 dev "$VETH_NB"; must ip -n "$NS_B" addr add 192.0.2.2/24 dev "$pub_if"
            A_LOCAL=10.0.0.2 A_PEER=192.0.2.2 B_LOCAL=192.0.2.2 B_PEER=192.0.2.1
        else
            must ip -n "$NS_N" addr add 192.0.2.2/24 dev "$VETH_NB"; must ip -n "$NS_A" addr add 192.0.2.1/24 dev "$pub_if"
            A_LOCAL=192.0.2.1 A_PEER=192.0.2.2 B_LOCAL=10.0.0.2 B_PEER=192.0.2.1
        fi
        for cidr in "$NS_N:$VETH_NA" "$NS_N:$VETH_NB" "$NS_A:$VETH_A" "$NS_B:$VETH_B"; do
            must ip -n "${cidr%%:*}" link set "${cidr##*:}" up
        done
        # a route to the link net only (never a default route)
        must ip -n "$(ns_of "$behind")" route add 192.0.2.0/24 via 10.0.0.1
        ip netns exec "$NS_N" sysctl -qw net.ipv4.ip_forward=1
        printf 'table ip nat {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname "%s" ip saddr 10.0.0.0/8 masquerade\n }\n}\n' \
            "$VETH_NB" | ip netns exec "$NS_N" nft -f - || fail "nft masquerade"
        CAPTURE_NS=$NS_N CAPTURE_IF=$VETH_NB
        ;;
    *) fail "bad NAT=$NAT" ;;
    esac
    for cidr in $A_LO; do ip -n "$NS_A" addr add "$cidr" dev lo; done
    for cidr in $B_LO; do ip -n "$NS_B" addr add "$cidr" dev lo; done
}

# ---------------------------------------------------------------------------------------------
# Peers
# ---------------------------------------------------------------------------------------------
prepare_strongswan() { # prepare_strongswan SIDE SRC_DIR
    local d=$RUN/$1
    mkdir -p "$d/swanctl"/{conf.d,x509,x509ca,private,rsa,ecdsa,pkcs8,pkcs12,x509aa,x509ac,x509crl,x509ocsp,pubkey,bliss,pkcs12}
    template "$HERE/common/strongswan.conf" "$d/strongswan.conf.common" "$1"
    : >"$d/strongswan.conf.scen"
    [ -f "$2/strongswan.conf" ] && template "$2/strongswan.conf" "$d/strongswan.conf.scen" "$1"
    cat "$d/strongswan.conf.common" "$d/strongswan.conf.scen" >"$d/strongswan.conf"
    [ -f "$2/swanctl.conf" ] || fail "missing $2/swanctl.conf"
    template "$2/swanctl.conf" "$d/swanctl/swanctl.conf" "$1"
}

mirror_swanctl() { # mirror_swanctl B_SWANCTL > A_SWANCTL: the same connection seen from side A
    local lid rid
    lid=$(awk '/^ *local *\{/ {b="l"} /^ *remote *\{/ {b="r"} /^ *\}/ {b=""} b=="l" && $1=="id" {sub(/^ *id *= */,""); print; exit}' "$1")
    rid=$(awk '/^ *local *\{/ {b="l"} /^ *remote *\{/ {b="r"} /^ *\}/ {b=""} b=="r" && $1=="id" {sub(/^ *id *= */,""); print; exit}' "$1")
    awk -v lid="$lid" -v rid="$rid" '
        /^ *local *\{/ {b="l"} /^ *remote *\{/ {b="r"} /^ *\}/ {b=""}
        b=="l" && $1=="id" { sub(/=.*/, "= " rid) }
        b=="r" && $1=="id" { sub(/=.*/, "= " lid) }
        $1=="local_ts"  { sub(/local_ts/, "remote_ts"); print; next }
        $1=="remote_ts" { sub(/remote_ts/, "local_ts"); print; next }
        $1=="local_addrs"  { sub(/=.*/, "= @A_LOCAL@"); print; next }
        $1=="remote_addrs" { sub(/=.*/, "= @A_PEER@"); print; next }
        # the own address of B is what A calls its peer, and the reverse
        { gsub(/@B_LOCAL@/, "@X_PEER@"); gsub(/@B_PEER@/, "@A_LOCAL@"); gsub(/@X_PEER@/, "@A_PEER@"); print }' "$1"
}

prepare_mirror() { # side A = strongSwan with the scenario's strongSwan configuration mirrored
    mkdir -p "$RUN/mirror-src"
    mirror_swanctl "$SCEN/swanctl.conf" >"$RUN/mirror-src/swanctl.conf"
    cp "$SCEN/strongswan.conf" "$RUN/mirror-src/strongswan.conf"
    prepare_strongswan A "$RUN/mirror-src"
}

start_strongswan() { # start_strongswan SIDE
    local d=$RUN/$1 pid
    STRONGSWAN_CONF=$d/strongswan.conf ip netns exec "$(ns_of "$1")" "$CHARON" </dev/null >>"$d/daemon.out" 2>&1 &
    pid=$!; reg pid "$pid"; disown "$pid"; echo "$pid" >"$d/daemon.pid"
    wait_for 10 sh -c "STRONGSWAN_CONF=$d/strongswan.conf timeout 2 swanctl --stats >/dev/null 2>&1" ||
        { log "charon on side $1 did not answer on vici"; return 1; }
    sw "$1" --load-all >>"$d/swanctl.out" 2>&1 || { log "swanctl --load-all failed on side $1"; return 1; }
}

prepare_racoon() {
    local d=$RUN/A f
    mkdir -p "$d"
    for f in racoon.conf psk.txt setkey.conf; do
        [ -f "$SCEN/$f" ] && template "$SCEN/$f" "$d/$f" A
    done
    [ -f "$d/psk.txt" ] && chmod 600 "$d/psk.txt"
    [ -f "$d/racoon.conf" ] || fail "missing racoon.conf"
    [ -x "$RACOON_BIN" ] || fail "no racoon binary at $RACOON_BIN (cargo build -p racoon-rs)"
    # the configuration must at least be valid for our parser (needs no daemon)
    "$RACOON_BIN" --check -f "$d/racoon.conf" >"$d/check.out" 2>&1 ||
        fail "racoon --check rejects racoon.conf: $(head -c 300 "$d/check.out")"
}

start_racoon() { # our daemon; returns 3 when it says it is not implemented yet
    local d=$RUN/A pid i cmd
    cmd=${SIDE_A_CMD:-'"$RACOON_BIN" -F -d --log-keys-INSECURE -f "$DIR/racoon.conf"'}
    DIR=$d PFKEY_SOCKET=$d/pfkey.sock ip netns exec "$NS_A" env DIR="$d" RACOON_BIN="$RACOON_BIN" \
        PFKEY_SOCKET="$d/pfkey.sock" bash -c "exec $cmd" </dev/null >>"$d/daemon.out" 2>&1 &
    pid=$!; reg pid "$pid"; disown "$pid"; echo "$pid" >"$d/daemon.pid"
    for i in $(seq 1 15); do
        sleep 0.1
        # up and serving (the daemon logs this once its sockets are bound)
        grep -q "racoon-rs started" "$d/daemon.out" && break
        if grep -q "IKE not available" "$d/daemon.out"; then
            echo "racoon-rs runs without an IKE core (IKE not available)" >"$RUN/pending_reason"; return 3
        fi
        kill -0 "$pid" 2>/dev/null && continue
        if grep -qi "not implemented" "$d/daemon.out"; then
            echo "racoon -F exited: $(grep -i -m1 "not implemented" "$d/daemon.out")" >"$RUN/pending_reason"; return 3
        fi
        log "racoon exited: $(tail -3 "$d/daemon.out")"; return 1
    done
    if [ -f "$d/setkey.conf" ]; then
        wait_for 5 test -S "$d/pfkey.sock" || { log "no PF_KEY socket $d/pfkey.sock"; return 1; }
        our_setkey -f "$d/setkey.conf" >"$d/setkey.out" 2>&1 || { log "setkey -f failed"; return 1; }
        # the engine publishes the routes into its TUN device on its next timer tick (250 ms,
        # then an `ip -batch`): wait for them, so that the first packet of a check never meets
        # "Network is unreachable" (a strongSwan-initiated tunnel is up in ~200 ms)
        wait_for 3 sh -c "ip -n $NS_A route get $IN_B from $IN_A 2>/dev/null | grep -q ' dev racoon'" ||
            log "no route $IN_A -> $IN_B into our TUN device 3 s after setkey -f"
    fi
}

start_side() {
    if [ "$(side_kind "$1")" = strongswan ]; then start_strongswan "$1"; else start_racoon; fi
}

# ---------------------------------------------------------------------------------------------
# Wire check: only ISAKMP and ESP-in-UDP between the gateways, no inner packet in clear
# ---------------------------------------------------------------------------------------------
CAP_PID= CAP_IKE_PID= CAP_N=0
# ISAKMP only (port 500, and 4500 with the non-ESP marker), whole datagrams: for decryption
IKE_BPF='udp port 500 or (udp port 4500 and udp[8:4] = 0)'
capture_start() { # a new capture segment: wire-N.pcap (everything, headers only: cheap) and
    # ike-N.pcap (ISAKMP only, whole messages, for the decryption check)
    CAP_N=$((CAP_N + 1))
    : >"$RUN/tshark-$CAP_N.out"; : >"$RUN/tshark-ike-$CAP_N.out"
    ip netns exec "$CAPTURE_NS" dumpcap -q -n -i "$CAPTURE_IF" -s 256 -w "$RUN/wire-$CAP_N.pcap" \
        -a duration:"$SCENARIO_TIMEOUT" >"$RUN/tshark-$CAP_N.out" 2>&1 &
    CAP_PID=$!; reg pid "$CAP_PID"; disown "$CAP_PID"
    ip netns exec "$CAPTURE_NS" dumpcap -q -n -i "$CAPTURE_IF" -f "$IKE_BPF" -w "$RUN/ike-$CAP_N.pcap" \
        -a duration:"$SCENARIO_TIMEOUT" >"$RUN/tshark-ike-$CAP_N.out" 2>&1 &
    CAP_IKE_PID=$!; reg pid "$CAP_IKE_PID"; disown "$CAP_IKE_PID"
    wait_for 10 grep -q "Capturing on" "$RUN/tshark-$CAP_N.out" || fail "dumpcap did not start"
    wait_for 10 grep -q "Capturing on" "$RUN/tshark-ike-$CAP_N.out" || fail "dumpcap (ISAKMP) did not start"
}

capture_stop() {
    [ -n "$CAP_PID" ] && { sleep 0.3; stop_pid "$CAP_PID"; stop_pid "$CAP_IKE_PID"; CAP_PID= CAP_IKE_PID=; }
    return 0
}

# tshark decryption of our ISAKMP messages (issue 8): racoon-rs runs with --log-keys-INSECURE
# and logs one `KEYLOG-INSECURE ikev1_decryption_table: ICOOKIE,KEY` line per phase 1; every
# encrypted ISAKMP message we sent under a logged phase 1 must decrypt (tshark then shows its
# payloads) without a malformed-packet error.
ike_decrypt_check() {
    local f=$RUN/ike.pcap keys=() line cookies n_enc n_dec n_penc n_pdec n_mal our_ip=192.0.2.1
    [ "$SIDE_A" = racoon ] || return 0
    mergecap -w "$f" "$RUN"/ike-[0-9]*.pcap || fail "mergecap (ISAKMP)"
    while IFS= read -r line; do
        keys+=(-o "uat:ikev1_decryption_table:${line#*ikev1_decryption_table: }")
    done < <(grep -o 'ikev1_decryption_table: [0-9a-f]*,[0-9a-f]*' "$RUN/A/daemon.out" | sort -u)
    if [ ${#keys[@]} -eq 0 ]; then
        [ "$EXPECT" = pass ] && fail "wire: racoon-rs logged no IKE key (--log-keys-INSECURE)"
        note "wire: no IKE key logged (no phase 1 completed): decryption not checked"; return 0
    fi
    cookies=$(grep -o 'ikev1_decryption_table: [0-9a-f]*,' "$RUN/A/daemon.out" | grep -o '[0-9a-f]\{16\}' |
        sort -u | paste -sd' ')
    # one pass for the fields; then per encrypted message under a cookie we logged a key for
    # (ours: from side A, which is 192.0.2.1 on the captured link, also behind the NAT; and
    # the peer's, under the same key): decrypted = tshark dissected payloads in it without a
    # malformed-packet or other expert error (a wrong key decrypts to garbage that tshark
    # still starts to dissect, then flags as malformed). IKE fragments count once, as the
    # message tshark reassembled (flags "0,1", payloads "132,...").
    tshark -n -r "$f" "${keys[@]}" -T fields -E separator='|' -e frame.number -e ip.src \
        -e isakmp.flag_e -e isakmp.ispi -e isakmp.typepayload -e _ws.expert.severity \
        -e _ws.malformed >"$RUN/ike-fields.txt" 2>/dev/null
    read -r n_enc n_dec n_penc n_pdec n_mal < <(awk -F'|' -v me="$our_ip" -v ck="$cookies" '
        function has1(l,   n, a, i) { n = split(l, a, ","); for (i = 1; i <= n; i++) if (a[i] == 1) return 1; return 0 }
        function dec(l,   n, a, i) { n = split(l, a, ","); for (i = 1; i <= n; i++) if (a[i] != "" && a[i] != 132) return 1; return 0 }
        # expert severity 0x800000 = error
        function err(sev, mal,   n, a, i) { if (mal != "") return 1; n = split(sev, a, ","); for (i = 1; i <= n; i++) if (a[i] + 0 >= 8388608) return 1; return 0 }
        BEGIN { n = split(ck, a, " "); for (i = 1; i <= n; i++) k[a[i]] = 1 }
        { split($4, c, ","); bad = err($6, $7); m += bad }
        has1($3) && (c[1] in k) {
            ok = dec($5) && !bad
            if ($2 == me) { e++; d += ok } else { pe++; pd += ok }
        }
        END { printf "%d %d %d %d %d\n", e, d, pe, pd, m }' "$RUN/ike-fields.txt")
    # the dissection, for reading when something did not decrypt
    [ "$n_mal" -eq 0 ] && [ "$n_dec" -eq "$n_enc" ] && [ "$n_pdec" -eq "$n_penc" ] ||
        tshark -n -r "$f" "${keys[@]}" -V >"$RUN/ike-decrypted-full.txt" 2>/dev/null
    note "wire: tshark decrypted $n_dec of $n_enc encrypted ISAKMP messages from racoon-rs and $n_pdec of $n_penc from the peer with the logged keys, $n_mal malformed/errors"
    [ "$n_mal" -eq 0 ] || fail "wire: $n_mal malformed packets or expert errors in the decrypted ISAKMP (ike-decrypted-full.txt)"
    [ "$n_dec" -eq "$n_enc" ] || fail "wire: only $n_dec of $n_enc of our encrypted ISAKMP messages decrypt with the logged keys (ike-fields.txt)"
    [ "$n_pdec" -eq "$n_penc" ] || fail "wire: only $n_pdec of $n_penc of the peer's encrypted ISAKMP messages decrypt with our logged keys (ike-fields.txt)"
    if [ "$EXPECT" = pass ]; then [ "$n_enc" -gt 0 ] || fail "wire: no encrypted ISAKMP message of ours captured"; fi
    return 0
}

wire_check() {
    [ "$CAP_N" -gt 0 ] || return 0
    capture_stop
    mergecap -w "$RUN/wire.pcap" "$RUN"/wire-[0-9]*.pcap || fail "mergecap"
    local f=$RUN/wire.pcap n_ip n_bad n_clear n_esp n_ike n_mal
    # One tshark pass (the captures hold tens of thousands of ESP packets: one pass per
    # question cost seconds each); awk classifies what these display filters would select:
    #   ip && !((udp.port == 500 || udp.port == 4500) && (isakmp || esp || udpencap))  [|| icmp]
    #   ip.addr == 198.51.100.0/24, esp, isakmp, _ws.malformed
    # (udp.port and ip.src/ip.dst list every layer, as the filters see ICMP-quoted packets)
    : >"$RUN/wire-bad.txt"; : >"$RUN/wire-clear.txt"
    tshark -n -r "$f" -T fields -E separator='|' -e frame.number -e frame.protocols -e ip.src \
        -e ip.dst -e udp.port >"$RUN/wire-fields.txt" 2>/dev/null || fail "tshark -r $f"
    read -r n_ip n_bad n_clear n_esp n_ike n_mal < <(awk -F'|' -v icmp="${WIRE_ALLOW_ICMP:-no}" \
        -v bad="$RUN/wire-bad.txt" -v clear="$RUN/wire-clear.txt" '
        function inner(list,   n, a, i) {
            n = split(list, a, ","); for (i = 1; i <= n; i++) if (a[i] ~ /^198\.51\.100\./) return 1
            return 0
        }
        { p = ":" $2 ":" }
        p ~ /:ip:/ {
            ip++
            ok = ("," $5 ",") ~ /,(500|4500),/ && p ~ /:(isakmp|esp|udpencap):/
            if (icmp == "yes" && p ~ /:icmp:/) ok = 1
            if (!ok) { nb++; print > bad }
            if (inner($3) || inner($4)) { nc++; print > clear }
        }
        p ~ /:esp:/ { ne++ }
        p ~ /:isakmp:/ { ni++ }
        p ~ /:_ws\.malformed:/ { nm++ }
        END { printf "%d %d %d %d %d %d\n", ip, nb, nc, ne, ni, nm }' "$RUN/wire-fields.txt")
    note "wire: $n_ip IP packets, $n_ike ISAKMP, $n_esp ESP, $n_bad other, $n_clear inner in clear, $n_mal malformed"
    [ "$n_bad" -eq 0 ] || fail "wire: $n_bad packets that are neither ISAKMP nor ESP-in-UDP (wire-bad.txt)"
    [ "$n_clear" -eq 0 ] || fail "wire: $n_clear inner packets in clear (wire-clear.txt)"
    [ "$n_mal" -eq 0 ] || fail "wire: $n_mal malformed packets"
    if [ "$EXPECT" = pass ]; then
        [ "$n_ike" -gt 0 ] || fail "wire: no ISAKMP seen"
        [ "$n_esp" -gt 0 ] || fail "wire: no ESP seen"
    else
        [ "$n_esp" -eq 0 ] || fail "wire: ESP seen although no SA should exist"
    fi
    ike_decrypt_check
}

# ---------------------------------------------------------------------------------------------
# One scenario, one role (runs in its own process under `timeout`)
# ---------------------------------------------------------------------------------------------
single() { # single NAME ROLE TOKEN (WORK is set)
    local name=$1 role=$2 tok=$3 rc
    SCEN=$SCEN_ROOT/$name
    RUN=$WORK/${RUN_NAME:-$name-$role}
    mkdir -p "$RUN"
    REGISTRY=$RUN/registry; : >"$REGISTRY"
    trap 'cleanup_registry "$REGISTRY"' EXIT
    trap 'exit 124' TERM INT
    # scenario defaults, then the scenario's own settings
    SIDE_A=racoon SIDE_A_CMD= CHILD=s2s NAT=no EXPECT=pass EST_TIMEOUT=15 WIRE=yes WIRE_ALLOW_ICMP=no
    A_LO=198.51.100.1/25 B_LO=198.51.100.129/25 IN_A=198.51.100.1 IN_B=198.51.100.129
    ESTABLISH_MS=
    # shellcheck disable=SC1091
    . "$SCEN/scenario"
    case $role in
    initiator) INITIATOR=A RESPONDER=B ;;
    responder) INITIATOR=B RESPONDER=A ;;
    *) echo "bad role $role" >&2; exit 2 ;;
    esac
    if [ "${INTEROP_MIRROR:-no}" = yes ] && [ "$SIDE_A" = racoon ]; then
        if [ "$EXPECT" != pass ] || [ "${MIRROR:-yes}" = no ]; then
            echo "SKIPPED (not mirrorable)" >"$RUN/result"; return 0
        fi
        SIDE_A=strongswan MIRRORED=yes
    fi
    export RUN SCEN
    log "=== $name ($role) in $RUN"
    setup_net "$tok"
    prepare_strongswan B "$SCEN"
    if [ "${MIRRORED:-no}" = yes ]; then prepare_mirror
    elif [ "$SIDE_A" = strongswan ]; then prepare_strongswan A "$SCEN/side-a"
    else prepare_racoon; fi
    # optional per-run material (certificates ...), generated into $RUN, never committed
    if [ -f "$SCEN/prepare" ]; then . "$SCEN/prepare" || fail "$SCEN/prepare failed"; fi
    [ "$WIRE" = yes ] && capture_start
    start_strongswan B || fail "strongSwan side B did not start"
    start_side A; rc=$?
    if [ "$rc" -eq 3 ]; then
        echo "PENDING (racoon-rs daemon not built)" >"$RUN/result"; return 0
    fi
    [ "$rc" -eq 0 ] || fail "side A did not start (see $RUN/A/daemon.out)"
    # the checks run in this process: `fail` exits non-zero
    # shellcheck disable=SC1091
    . "$SCEN/checks"
    [ "$WIRE" = yes ] && wire_check
    if [ "$SIDE_A" = racoon ]; then # racoon exits on SIGTERM within a few seconds (interop-notes 12)
        local pid; pid=$(cat "$RUN/A/daemon.pid")
        kill -TERM "$pid" 2>/dev/null
        wait_for 5 sh -c "! kill -0 $pid 2>/dev/null" || fail "racoon-rs still runs 5 s after SIGTERM"
    fi
    echo PASS >"$RUN/result"
}

# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------
need_tools() {
    local t missing=
    [ "$(id -u)" -eq 0 ] || { echo "run.sh: must run as root (network namespaces)" >&2; return 2; }
    for t in ip swanctl tshark dumpcap mergecap iperf3 ping nft ss timeout; do
        command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
    done
    [ -x "$CHARON" ] || missing="$missing $CHARON"
    [ -z "$missing" ] || { echo "run.sh: missing tools:$missing (see interop/README.md)" >&2; return 2; }
}

main() {
    local strict=no list=no args=() s r name role i=0 rc status fails=0 pending=0 t0 t1
    while [ $# -gt 0 ]; do
        case $1 in
        --single) shift; WORK=$4 RUN_NAME=${5:-}; single "$1" "$2" "$3"; exit $? ;;
        --strict) strict=yes ;;
        --mirror) export INTEROP_MIRROR=yes ;;
        --list) list=yes ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
        *) args+=("$1") ;;
        esac
        shift
    done
    if [ ${#args[@]} -eq 0 ]; then
        for s in "$SCEN_ROOT"/*/; do args+=("$(basename "$s")"); done
    fi
    # expand to NAME:ROLE pairs
    local runs=()
    for s in "${args[@]}"; do
        name=${s%%:*}
        [ -f "$SCEN_ROOT/$name/scenario" ] || { echo "run.sh: no scenario $name" >&2; exit 2; }
        if [ "$s" != "$name" ]; then runs+=("$s"); continue; fi
        ROLES=initiator
        # shellcheck disable=SC1091
        ROLES=$( . "$SCEN_ROOT/$name/scenario"; echo "${ROLES:-initiator}")
        for r in $ROLES; do runs+=("$name:$r"); done
    done
    if [ "$list" = yes ]; then printf '%s\n' "${runs[@]}"; exit 0; fi
    need_tools || exit 2

    WORK=${INTEROP_WORK:-$(mktemp -d /tmp/interop.XXXXXX)}
    mkdir -p "$WORK"
    local results=$WORK/results.tsv
    : >"$results"
    REGISTRY=$WORK/registry; : >"$REGISTRY"
    trap 'cleanup_registry "$REGISTRY"; for f in "$WORK"/*/registry; do cleanup_registry "$f"; done' EXIT
    trap 'exit 130' INT TERM
    local tokbase; tokbase=$(printf '%04x' $(( ($$ ^ $(date +%s)) & 0xffff )))
    log "work directory: $WORK"
    log "racoon-rs binaries: $RACOON_BIN, $SETKEY_BIN"
    for s in "${runs[@]}"; do
        name=${s%%:*} role=${s##*:}
        i=$((i + 1))
        t0=$(now_ms)
        # the same scenario and role may be asked for more than once: a fresh directory each
        local rname=$name-$role
        [ -e "$WORK/$rname" ] && rname=$name-$role-$i
        timeout --kill-after=15 "$SCENARIO_TIMEOUT" "$0" --single "$name" "$role" "$tokbase$(printf '%02d' "$i")" "$WORK" "$rname"
        rc=$?
        t1=$(now_ms)
        [ -f "$WORK/$rname/registry" ] && cleanup_registry "$WORK/$rname/registry"
        local d=$WORK/$rname est=- tput=- reason=
        status=$(cat "$d/result" 2>/dev/null)
        [ -n "$status" ] || status=FAIL
        [ "$rc" -eq 124 ] && reason="timeout after ${SCENARIO_TIMEOUT}s"
        [ -f "$d/fail_reason" ] && reason=$(cat "$d/fail_reason")
        [ -f "$d/pending_reason" ] && reason=$(cat "$d/pending_reason")
        [ "$status" = PASS ] && [ "$rc" -ne 0 ] && status=FAIL
        [ -f "$d/establish_ms" ] && est="$(cat "$d/establish_ms") ms"
        [ -f "$d/throughput" ] && tput=$(sed 's/ $//' "$d/throughput")
        # A scenario may list roles known to fail (KNOWN_FAILING="role ..."
        # with KNOWN_FAILING_WHY): reported as XFAIL, not counted; if it
        # passes it shows as XPASS so the mark gets removed.
        local known
        known=$(. "$SCEN_ROOT/$name/scenario"; echo "${KNOWN_FAILING:-}")
        if [[ " $known " == *" $role "* ]]; then
            local why
            why=$(. "$SCEN_ROOT/$name/scenario"; echo "${KNOWN_FAILING_WHY:-}")
            case $status in
            PASS) status="XPASS (remove KNOWN_FAILING)" ;;
            PENDING*|SKIPPED*) ;;
            *) status=XFAIL; reason="known: $why; this run: $reason" ;;
            esac
        fi
        case $status in
        PASS|XPASS*|XFAIL) ;;
        PENDING*) pending=$((pending + 1)) ;;
        SKIPPED*) ;;
        *) fails=$((fails + 1)) ;;
        esac
        local our_role=$role
        if [ "$(. "$SCEN_ROOT/$name/scenario"; echo "${SIDE_A:-racoon}")" = strongswan ]; then
            our_role="- (swan A: $role)"
        elif [ "${INTEROP_MIRROR:-no}" = yes ]; then
            our_role="mirror (swan A: $role)"
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$our_role" "$status" "$est" "$tput" "$(( (t1 - t0) / 1000 ))s" "$reason" >>"$results"
        log "=== $name ($role): $status ${reason:+($reason)}"
    done
    [ -n "${INTEROP_RESULTS:-}" ] && cat "$results" >>"$INTEROP_RESULTS"
    summary "$results"
    echo "logs, captures and results: $WORK"
    if [ "$fails" -gt 0 ] || { [ "$strict" = yes ] && [ "$pending" -gt 0 ]; }; then exit 1; fi
    exit 0
}

summary() {
    echo
    printf '%-42s %-24s %-38s %-10s %s\n' SCENARIO "OUR ROLE" RESULT ESTABLISH "THROUGHPUT (Mbit/s)"
    while IFS=$'\t' read -r n r s e t w why; do
        printf '%-42s %-24s %-38s %-10s %s\n' "$n" "$r" "$s" "$e" "$t"
        [ -n "$why" ] && printf '%42s   -> %s\n' "" "$why"
    done <"$1"
    # the throughput target: 3x strongSwan libipsec, measured in this run
    local line
    line=$(awk -F'\t' '$1 ~ /^baseline/ && $5 != "-" { print $5 }' "$1" | tr ' ' '\n' |
        awk -F= 'NF == 2 { printf "%s%s >= %.0f Mbit/s", sep, $1, 3 * $2; sep = ", " }')
    [ -n "$line" ] && printf '\nracoon-rs throughput target (3x strongSwan libipsec, this run): %s\n' "$line"
    return 0
}

main "$@"
