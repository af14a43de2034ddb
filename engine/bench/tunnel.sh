#!/bin/bash
# Data-plane throughput in one run (root): iperf3 TCP through
#   1. the bare veth between two network namespaces,
#   2. ipsecd --tun + setkey -f manual keys on each side (tunnel mode,
#      198.51.100.0/26 <-> 198.51.100.64/26 behind 192.0.2.1 / 192.0.2.2),
#      ESP aes-cbc-128/hmac-sha1-96 and aes-gcm-16 (RFC 4106, 128-bit key),
#      as raw ESP and as ESP-in-UDP/4500 (ipsecd --udp-encap-port 4500),
#   3. strongSwan <-> strongSwan (charon-systemd + kernel-libipsec, IKEv1 PSK,
#      ESP-in-UDP as libipsec forces it) with the same subnets and suites,
# and prints a table with the ratios (ours / strongSwan, ours / bare).
#
#   sudo engine/bench/tunnel.sh
#   IPSECD=... SETKEY=... SECS=10 SKIP_SWAN=1 sudo -E engine/bench/tunnel.sh
#
# Binaries: $IPSECD / $SETKEY, else $TARGET_DIR/release/{ipsecd,setkey}
# (TARGET_DIR defaults to $CARGO_TARGET_DIR, else ./target). Build first:
#   cargo build --release -p engine -p setkey-rs
# No target-cpu=native: the crypto crates detect AES-NI/SHA-NI at run time.
#
# Everything it creates (namespaces h1p-*-PID, processes by PID, temp dir) is
# removed on every exit path; every wait and run is bounded (whole run ~2 min
# with SECS=10). CPU columns: user+system seconds of each side's daemon over
# the iperf3 run, divided by the run time (1.00 = one core busy).
set -u -o pipefail
cd "$(dirname "$0")/../.."
TARGET_DIR=${TARGET_DIR:-${CARGO_TARGET_DIR:-target}}
IPSECD=${IPSECD:-$TARGET_DIR/release/ipsecd}
SETKEY=${SETKEY:-$TARGET_DIR/release/setkey}
CHARON=${CHARON:-/usr/sbin/charon-systemd}
SECS=${SECS:-10}
SKIP_SWAN=${SKIP_SWAN:-0}
# PERF_OUT=/tmp/p: perf record -g both ipsecd during their runs (/tmp/p-LABEL).
# Extra ipsecd arguments (e.g. to compare options).
IPSECD_ARGS=${IPSECD_ARGS:-}
for b in "$IPSECD" "$SETKEY"; do
    [ -x "$b" ] || { echo "missing $b (cargo build --release -p engine -p setkey-rs)" >&2; exit 2; }
done
command -v iperf3 >/dev/null || { echo "iperf3 not installed" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }

TAG=$$
NSA=h1p-a-$TAG
NSB=h1p-b-$TAG
W=$(mktemp -d /tmp/h1p-tunnel.XXXXXX)
PIDS=()

stop_pid() {
    local p=$1
    kill -0 "$p" 2>/dev/null || return 0
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
}
cleanup() {
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    # Anything still inside our namespaces (only we start processes there).
    for ns in "$NSA" "$NSB"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do stop_pid "$p"; done
    done
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "logs kept in $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
die() {
    echo "FAIL: $*" >&2
    for f in "$W"/*.log "$W"/*/charon.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
    exit 1
}
A() { ip netns exec "$NSA" "$@"; }
B() { ip netns exec "$NSB" "$@"; }

netns_up() {
    for ns in "$NSA" "$NSB"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do stop_pid "$p"; done
        ip netns del "$ns" 2>/dev/null
    done
    ip netns add "$NSA" && ip netns add "$NSB" || die "netns add"
    ip link add "h1pa$TAG" netns "$NSA" type veth peer name "h1pb$TAG" netns "$NSB" || die "veth"
    A ip link set lo up; B ip link set lo up
    A ip link set "h1pa$TAG" up; B ip link set "h1pb$TAG" up
    A ip addr add 192.0.2.1/24 dev "h1pa$TAG"
    B ip addr add 192.0.2.2/24 dev "h1pb$TAG"
    A ip addr add 198.51.100.1/26 dev lo
    B ip addr add 198.51.100.65/26 dev lo
    for ns in A B; do
        $ns sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    done
}

cpu_ticks() { # utime+stime of a pid, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# iperf SRC DST LABEL [PID_A PID_B]: receiver Gbit/s and daemon CPU shares
iperf() {
    local src=$1 dst=$2 label=$3 pa=${4:-} pb=${5:-} sp ca0 cb0 ca1 cb1 t0 t1 g
    ip netns exec "$NSB" timeout $((SECS + 20)) iperf3 -s -1 -B "$dst" >"$W/iperf-s-$label.log" 2>&1 &
    sp=$!
    PIDS+=("$sp")
    for _ in $(seq 50); do
        B ss -Hltn "sport = :5201" | grep -q LISTEN && break
        sleep 0.1
    done
    [ -n "$pa" ] && { ca0=$(cpu_ticks "$pa"); cb0=$(cpu_ticks "$pb"); }
    t0=$(date +%s.%N)
    A timeout $((SECS + 20)) iperf3 -c "$dst" -B "$src" -t "$SECS" -J --connect-timeout 3000 \
        >"$W/iperf-$label.json" 2>"$W/iperf-$label.err" || die "iperf3 $label"
    t1=$(date +%s.%N)
    [ -n "$pa" ] && { ca1=$(cpu_ticks "$pa"); cb1=$(cpu_ticks "$pb"); }
    wait "$sp" 2>/dev/null
    g=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); e=d["end"]; print("%.3f %s" % (e["sum_received"]["bits_per_second"]/1e9, e["sum_sent"].get("retransmits", "-")))' "$W/iperf-$label.json") || die "iperf3 $label output"
    if [ -n "$pa" ]; then
        local hz; hz=$(getconf CLK_TCK)
        python3 -c "import sys; hz=$hz; dt=$t1-$t0; print('$g', '%.2f' % (($ca1-$ca0)/hz/dt), '%.2f' % (($cb1-$cb0)/hz/dt))"
    else
        echo "$g - -"
    fi
}

RES=$W/results
: >"$RES"
row() { echo "$1 $2" >>"$RES"; printf '%-22s %s\n' "$1" "$2" >&2; }

# --- 1 + 2: bare veth, then ipsecd ---------------------------------------
netns_up
row bare "$(iperf 192.0.2.1 192.0.2.2 bare)"

# shellcheck disable=SC2086
ip netns exec "$NSA" "$IPSECD" -F -p "$W/a.pid" --pfkey-socket "$W/a.sock" --tun h1p0 --udp-encap-port 4500 $IPSECD_ARGS >/dev/null 2>"$W/ipsecd-a.log" &
PA=$!; PIDS+=("$PA")
# shellcheck disable=SC2086
ip netns exec "$NSB" "$IPSECD" -F -p "$W/b.pid" --pfkey-socket "$W/b.sock" --tun h1p0 --udp-encap-port 4500 $IPSECD_ARGS >/dev/null 2>"$W/ipsecd-b.log" &
PB=$!; PIDS+=("$PB")
for _ in $(seq 100); do [ -S "$W/a.sock" ] && [ -S "$W/b.sock" ] && break; sleep 0.1; done
[ -S "$W/a.sock" ] && [ -S "$W/b.sock" ] || die "ipsecd did not start"

# $1 side, $2 enc alg, $3 key a->b, $4 key b->a, $5 auth args, $6 esp | esp-udp
keys() {
    local side=$1 enc=$2 k1=$3 k2=$4 auth=$5 proto=$6 out in p=""
    if [ "$side" = a ]; then out=out; in=in; else out=in; in=out; fi
    [ "$proto" = esp-udp ] && p="[4500]"
    cat <<EOF
flush;
spdflush;
add 192.0.2.1$p 192.0.2.2$p $proto 0x1001 -m tunnel -r 64 -E $enc $k1 $auth;
add 192.0.2.2$p 192.0.2.1$p $proto 0x1002 -m tunnel -r 64 -E $enc $k2 ${auth/0x0102/0x1413};
spdadd 198.51.100.0/26 198.51.100.64/26 any -P $out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;
spdadd 198.51.100.64/26 198.51.100.0/26 any -P $in ipsec esp/tunnel/192.0.2.2-192.0.2.1/require;
EOF
}
ours() { # $1 label, $2 enc, $3 key1, $4 key2, $5 auth args, $6 esp | esp-udp
    keys a "$2" "$3" "$4" "$5" "$6" >"$W/a-$1.conf"
    keys b "$2" "$3" "$4" "$5" "$6" >"$W/b-$1.conf"
    PFKEY_SOCKET="$W/a.sock" A timeout 10 "$SETKEY" -f "$W/a-$1.conf" >"$W/setkey.log" 2>&1 || die "setkey a $1"
    PFKEY_SOCKET="$W/b.sock" B timeout 10 "$SETKEY" -f "$W/b-$1.conf" >>"$W/setkey.log" 2>&1 || die "setkey b $1"
    for _ in $(seq 50); do
        A ip route show table 220 2>/dev/null | grep -q "dev h1p0" && B ip route show table 220 2>/dev/null | grep -q "dev h1p0" && break
        sleep 0.1
    done
    A ping -c 2 -i 0.2 -W 2 -I 198.51.100.1 198.51.100.65 >"$W/ping-$1.log" 2>&1 || die "ping through ipsecd ($1)"
    local perf=
    if [ -n "${PERF_OUT:-}" ]; then # profile both daemons during the run
        timeout $((SECS + 5)) perf record -q -g -p "$PA,$PB" -o "$PERF_OUT-$1" -- sleep "$SECS" >/dev/null 2>&1 &
        perf=$!
    fi
    row "$1" "$(iperf 198.51.100.1 198.51.100.65 "$1" "$PA" "$PB")"
    [ -n "$perf" ] && wait "$perf"
}
# Raw ESP (IP protocol 50), then ESP-in-UDP/4500 as strongSwan's libipsec always sends.
for proto in esp esp-udp; do
    l=ipsecd; [ "$proto" = esp-udp ] && l=ipsecd-udp
    ours $l-aes128-sha1 aes-cbc 0x00112233445566778899aabbccddeeff 0xffeeddccbbaa99887766554433221100 \
        "-A hmac-sha1 0x0102030405060708090a0b0c0d0e0f1011121314" $proto
    ours $l-aes128gcm16 aes-gcm-16 0x00112233445566778899aabbccddeeff01020304 \
        0xffeeddccbbaa9988776655443322110005060708 "" $proto
done
kill -USR1 "$PA" "$PB"; sleep 0.3
echo "A $(grep stats: "$W/ipsecd-a.log" | tail -n 1 | sed 's/.*stats: //')" >"$W/stats"
echo "B $(grep stats: "$W/ipsecd-b.log" | tail -n 1 | sed 's/.*stats: //')" >>"$W/stats"
stop_pid "$PA"; stop_pid "$PB"

# --- 3: strongSwan <-> strongSwan, kernel-libipsec -----------------------
swan_conf() { # $1 side dir, $2 local, $3 peer, $4 local ts, $5 remote ts, $6 s2s proposals
    local d=$1
    mkdir -p "$d/swanctl/conf.d"
    cat >"$d/strongswan.conf" <<EOF
charon {
  load_modular = no
  load = random nonce openssl aes sha1 sha2 md5 hmac gmp gcm pem pkcs1 pkcs8 x509 pubkey revocation constraints kernel-libipsec kernel-netlink socket-default vici updown
  install_routes = yes
  plugins {
    vici { socket = unix://$d/charon.vici }
    socket-default { fwmark = 0x42 }
    kernel-netlink { fwmark = !0x42 }
  }
  filelog {
    log { path = $d/charon.log
          append = no
          flush_line = yes
          default = 1 }
  }
}
charon-systemd { journal { default = -1 } }
swanctl { socket = unix://$d/charon.vici }
EOF
    cat >"$d/swanctl/swanctl.conf" <<EOF
connections {
  s2s {
    version = 1
    local_addrs = $2
    remote_addrs = $3
    proposals = aes128-sha1-modp2048
    encap = yes
    local { auth = psk
            id = $2 }
    remote { auth = psk
             id = $3 }
    children {
      s2s { local_ts = $4
            remote_ts = $5
            esp_proposals = $6
            start_action = none }
      s2s-gcm { local_ts = $4
                remote_ts = $5
                esp_proposals = aes128gcm16
                start_action = none }
    }
  }
}
secrets {
  ike-s2s { id-a = 192.0.2.1
            id-b = 192.0.2.2
            secret = "h1p-bench-psk-0123456789" }
}
EOF
}
sw() { local d=$W/$1; shift; STRONGSWAN_CONF=$d/strongswan.conf SWANCTL_DIR=$d/swanctl timeout 20 swanctl "$@"; }

if [ "$SKIP_SWAN" != 1 ] && [ -x "$CHARON" ] && command -v swanctl >/dev/null; then
    # Fresh namespaces: nothing of ipsecd's routes, rules or guards is left.
    netns_up
    swan_conf "$W/sa" 192.0.2.1 192.0.2.2 198.51.100.0/26 198.51.100.64/26 aes128-sha1
    # The responder takes the first child whose selectors match: it accepts both suites.
    swan_conf "$W/sb" 192.0.2.2 192.0.2.1 198.51.100.64/26 198.51.100.0/26 "aes128-sha1, aes128gcm16"
    STRONGSWAN_CONF=$W/sa/strongswan.conf ip netns exec "$NSA" "$CHARON" </dev/null >"$W/charon-a.log" 2>&1 &
    SA=$!; PIDS+=("$SA")
    STRONGSWAN_CONF=$W/sb/strongswan.conf ip netns exec "$NSB" "$CHARON" </dev/null >"$W/charon-b.log" 2>&1 &
    SB=$!; PIDS+=("$SB")
    for s in sa sb; do
        for _ in $(seq 50); do sw "$s" --stats >/dev/null 2>&1 && break; sleep 0.1; done
        sw "$s" --load-all >"$W/swanctl-$s.log" 2>&1 || die "swanctl --load-all $s"
    done
    swan() { # $1 label, $2 child
        sw sa --initiate --child "$2" --timeout 15 >>"$W/swanctl-sa.log" 2>&1 || die "initiate $2"
        A ping -c 2 -i 0.2 -W 2 -I 198.51.100.1 198.51.100.65 >"$W/ping-$1.log" 2>&1 || die "ping through strongSwan ($1)"
        row "$1" "$(iperf 198.51.100.1 198.51.100.65 "$1" "$SA" "$SB")"
        sw sa --terminate --child "$2" --timeout 10 >>"$W/swanctl-sa.log" 2>&1
        sleep 0.5
    }
    swan swan-aes128-sha1 s2s
    swan swan-aes128gcm16 s2s-gcm
    stop_pid "$SA"; stop_pid "$SB"
else
    echo "strongSwan skipped" >&2
fi

echo
echo "iperf3 TCP, 1 stream, ${SECS} s, receiver rate; CPU = daemon A / B (cores); $(date -u +%FT%TZ)"
python3 - "$RES" <<'EOF'
import sys
r = {}
for line in open(sys.argv[1]):
    f = line.split()
    r[f[0]] = (float(f[1]), f[2], f[3], f[4])
bare = r.get("bare", (0,))[0]
# cpu/Gb: daemon CPU (both sides, core-seconds) per Gbit carried; less
# sensitive to other load on the machine than the rate itself.
print(f"{'path':<24} {'Gbit/s':>8} {'retr':>7} {'cpuA':>5} {'cpuB':>5} {'cpu/Gb':>6} {'/bare':>7} {'/strongSwan':>12}")
for k, (g, retr, ca, cb) in r.items():
    suite = k.removeprefix("ipsecd-").removeprefix("udp-").removeprefix("swan-")
    swan = r.get(f"swan-{suite}") if k.startswith("ipsecd") else None
    rs = f"{g / swan[0]:.2f}x" if swan and swan[0] > 0 else ""
    rb = f"{g / bare:.3f}" if bare and k != "bare" else ""
    cg = f"{(float(ca) + float(cb)) / g:.2f}" if ca != "-" and g > 0 else ""
    print(f"{k:<24} {g:>8.3f} {retr:>7} {ca:>5} {cb:>5} {cg:>6} {rb:>7} {rs:>12}")
EOF
cat "$W/stats"
