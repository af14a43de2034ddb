#!/bin/bash
# End-to-end data plane test: two network namespaces joined by veth
# (192.0.2.1 / 192.0.2.2), subnets 198.51.100.0/25 and .128/25 on lo,
# ipsecd --tun + setkey -f with manual keys on each side.
#
# usage: dataplane.sh IPSECD SETKEY WORKDIR SCENARIO
#   SCENARIO: tunnel | tunnel6 | transport | bundle | udp | wrongkey | acquire | bench
#   (bundle: transport-mode ipcomp + esp + ah between the hosts)
# Exit 0 on success; prints "FAIL: ..." and exits 1 otherwise.
# Everything it creates (namespaces, processes by PID) is removed on every exit
# path; every wait is bounded. No traffic leaves the namespaces.
set -u
IPSECD=$1
SETKEY=$2
W=$3
SCEN=$4
TAG=$$
NSA=rrs-dpa-$TAG
NSB=rrs-dpb-$TAG
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    echo "FAIL: $*"
    for f in "$W"/*.log; do echo "--- $f"; tail -n 30 "$f"; done
    exit 1
}
A() { ip netns exec "$NSA" "$@"; }
B() { ip netns exec "$NSB" "$@"; }
stats() { # $1 pid, $2 log: SIGUSR1 to ipsecd, print its last stats line
    local pid=$1 log=$2
    kill -USR1 "$pid"
    for _ in $(seq 30); do
        grep -q "stats:" "$log" && break
        sleep 0.1
    done
    sleep 0.3
    grep "stats:" "$log" | tail -n 1
}

ip netns add "$NSA" || fail "netns add"
ip netns add "$NSB" || fail "netns add"
ip link add "va$TAG" netns "$NSA" type veth peer name "vb$TAG" netns "$NSB" || fail "veth"
A ip link set lo up; B ip link set lo up
A ip link set "va$TAG" up; B ip link set "vb$TAG" up
A ip addr add 192.0.2.1/24 dev "va$TAG"
B ip addr add 192.0.2.2/24 dev "vb$TAG"
A ip addr add 198.51.100.1/25 dev lo
B ip addr add 198.51.100.129/25 dev lo
for ns in A B; do
    $ns sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
HA=192.0.2.1 HB=192.0.2.2 NA=198.51.100.0/25 NB=198.51.100.128/25
if [ "$SCEN" = tunnel6 ]; then
    HA=2001:db8::1 HB=2001:db8::2 NA=2001:db8:a::/64 NB=2001:db8:b::/64
    A ip -6 addr add 2001:db8::1/64 dev "va$TAG" nodad
    B ip -6 addr add 2001:db8::2/64 dev "vb$TAG" nodad
    A ip -6 addr add 2001:db8:a::1/64 dev lo nodad
    B ip -6 addr add 2001:db8:b::1/64 dev lo nodad
fi

UDPFLAG=()
if [ "$SCEN" = udp ]; then UDPFLAG=(--udp-encap-port 4500); fi
ip netns exec "$NSA" "$IPSECD" -F -p "$W/a.pid" --pfkey-socket "$W/a.sock" --tun ipsec0 "${UDPFLAG[@]}" >/dev/null 2>"$W/a.log" &
PIDS+=($!)
ip netns exec "$NSB" "$IPSECD" -F -p "$W/b.pid" --pfkey-socket "$W/b.sock" --tun ipsec0 "${UDPFLAG[@]}" >/dev/null 2>"$W/b.log" &
PIDS+=($!)
for _ in $(seq 100); do
    [ -S "$W/a.sock" ] && [ -S "$W/b.sock" ] && break
    sleep 0.1
done
[ -S "$W/a.sock" ] && [ -S "$W/b.sock" ] || fail "ipsecd did not start"

KE1=0x00112233445566778899aabbccddeeff
KA1=0x0102030405060708090a0b0c0d0e0f1011121314
KE2=0xffeeddccbbaa99887766554433221100
KA2=0x1413121110090807060504030201000a0b0c0d0e
KB1=$KA1
if [ "$SCEN" = wrongkey ]; then KB1=0x9999999999999999999999999999999999999999; fi

# $1 = side (a|b), $2 = auth key of the a->b SA
conf() {
    local side=$1 ka=$2 proto=esp mode=tunnel out in sel_ab sel_ba
    [ "$SCEN" = udp ] && proto="esp-udp"
    if [ "$SCEN" = transport ] || [ "$SCEN" = bundle ]; then
        mode=transport
        sel_ab="192.0.2.1 192.0.2.2"
        sel_ba="192.0.2.2 192.0.2.1"
        req_ab="esp/transport//require"
        req_ba="esp/transport//require"
    else
        sel_ab="$NA $NB"
        sel_ba="$NB $NA"
        req_ab="esp/tunnel/$HA-$HB/require"
        req_ba="esp/tunnel/$HB-$HA/require"
    fi
    if [ "$side" = a ]; then out="-P out"; in="-P in"; else out="-P in"; in="-P out"; fi
    local pa="" pb=""
    if [ "$SCEN" = udp ]; then pa="[4500]"; pb="[4500]"; fi
    if [ "$SCEN" = bundle ]; then
        req_ab="ipcomp/transport//use esp/transport//require ah/transport//require"
        req_ba="$req_ab"
    fi
    cat <<EOF
flush;
spdflush;
add $HA$pa $HB$pb $proto 0x1001 -m $mode -r 64 -E aes-cbc $KE1 -A hmac-sha1 $ka;
add $HB$pb $HA$pa $proto 0x1002 -m $mode -r 64 -E aes-cbc $KE2 -A hmac-sha1 $KA2;
spdadd $sel_ab any $out ipsec $req_ab;
spdadd $sel_ba any $in ipsec $req_ba;
EOF
    if [ "$SCEN" = bundle ]; then
        cat <<EOF
add $HA $HB ah 0x2001 -m transport -A hmac-sha256 0x$(printf '11%.0s' $(seq 32));
add $HB $HA ah 0x2002 -m transport -A hmac-sha256 0x$(printf '22%.0s' $(seq 32));
add $HA $HB ipcomp 0x3001 -m transport -C deflate;
add $HB $HA ipcomp 0x3002 -m transport -C deflate;
EOF
    fi
}
if [ "$SCEN" = acquire ]; then
    # Policies only: the first packet must produce one ACQUIRE to a listener.
    cat >"$W/a.conf" <<EOF
spdadd $NA $NB any -P out ipsec esp/tunnel/$HA-$HB/require;
EOF
    PFKEY_SOCKET="$W/a.sock" A "$SETKEY" -f "$W/a.conf" >"$W/setkey-a.log" 2>&1 || fail "setkey a"
    PFKEY_SOCKET="$W/a.sock" ip netns exec "$NSA" timeout 20 "$SETKEY" -x >"$W/monitor.log" 2>&1 &
    PIDS+=($!)
    sleep 0.5
    A ping -c 5 -i 0.2 -W 1 -I 198.51.100.1 198.51.100.129 >"$W/ping.log" 2>&1 && fail "ping without SA"
    sleep 0.5
    line=$(stats "${PIDS[0]}" "$W/a.log")
    echo "A $line"
    n=$(grep -c "sadb_msg{ version=2 type=6 " "$W/monitor.log")  # SADB_ACQUIRE
    [ "$n" -eq 1 ] || fail "expected one ACQUIRE, saw $n: $(cat "$W/monitor.log")"
    echo "$line" | grep -q "acquires=1 " || fail "acquire counter: $line"
    nosa=$(echo "$line" | sed -n 's/.*drop_no_sa=\([0-9]*\).*/\1/p')
    [ "${nosa:-0}" -ge 5 ] || fail "no_sa drops: $line"
    echo "OK acquire: one ACQUIRE for $nosa dropped packets"
    exit 0
fi
conf a "$KA1" >"$W/a.conf"
conf b "$KB1" >"$W/b.conf"
PFKEY_SOCKET="$W/a.sock" A "$SETKEY" -f "$W/a.conf" >"$W/setkey-a.log" 2>&1 || fail "setkey a"
PFKEY_SOCKET="$W/b.sock" B "$SETKEY" -f "$W/b.conf" >"$W/setkey-b.log" 2>&1 || fail "setkey b"

if [ "$SCEN" = transport ] || [ "$SCEN" = bundle ]; then SRC=192.0.2.1; DST=192.0.2.2; else SRC=198.51.100.1; DST=198.51.100.129; fi
RT="ip -4"
if [ "$SCEN" = tunnel6 ]; then SRC=2001:db8:a::1; DST=2001:db8:b::1; RT="ip -6"; fi
# Routes follow the policies (bounded wait for the route task).
for _ in $(seq 50); do
    A $RT route show table 220 2>/dev/null | grep -q "dev ipsec0" && B $RT route show table 220 2>/dev/null | grep -q "dev ipsec0" && break
    sleep 0.1
done
A $RT route show table 220 | grep -q "dev ipsec0" || fail "no route in table 220"

CAP="$W/wire.pcap"
if [ "$SCEN" != bench ] && command -v tshark >/dev/null; then
    ip netns exec "$NSB" timeout 30 tshark -i "vb$TAG" -w "$CAP" -q >"$W/tshark.log" 2>&1 &
    TSHARK=$!
    PIDS+=($TSHARK)
    for _ in $(seq 50); do [ -s "$CAP" ] && break; sleep 0.1; done
    sleep 0.5
fi


if [ "$SCEN" = bench ]; then
    ip netns exec "$NSB" iperf3 -s -1 -B "$DST" >"$W/iperf-s.log" 2>&1 &
    PIDS+=($!)
    ip netns exec "$NSB" iperf3 -s -1 -p 5202 -B 192.0.2.2 >"$W/iperf-s2.log" 2>&1 &
    PIDS+=($!)
    sleep 0.5
    A ping -c 1 -W 2 -I "$SRC" "$DST" >/dev/null  # first packet may be an ACQUIRE drop
    BARE=$(A timeout 30 iperf3 -c 192.0.2.2 -p 5202 -t 5 -J 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])')
    A timeout 30 iperf3 -c "$DST" -B "$SRC" -t 5 -J >"$W/iperf-tun.json" 2>/dev/null
    TUN=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["end"]["sum_received"]["bits_per_second"])' "$W/iperf-tun.json")
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("tunnel retransmits:", d["end"]["sum_sent"].get("retransmits"))' "$W/iperf-tun.json"
    A ip -s link show ipsec0 | sed -n "3,6p"
    python3 -c "b=float('$BARE'); t=float('$TUN'); print(f'bare veth: {b/1e9:.2f} Gbit/s; ESP tunnel (aes-cbc/hmac-sha1): {t/1e9:.3f} Gbit/s; ratio {t/b:.3f}')" || fail "iperf3"
    echo "A $(stats "${PIDS[0]}" "$W/a.log" | sed 's/.*stats: //')"
    echo "B $(stats "${PIDS[1]}" "$W/b.log" | sed 's/.*stats: //')"
    exit 0
fi

if [ "$SCEN" = wrongkey ]; then
    A ping -c 5 -i 0.2 -W 1 -I "$SRC" "$DST" >"$W/ping.log" 2>&1 && fail "ping succeeded with wrong keys"
    line=$(stats "${PIDS[1]}" "$W/b.log")
    echo "B $line"
    bad=$(echo "$line" | sed -n 's/.*drop_bad_icv=\([0-9]*\).*/\1/p')
    [ "${bad:-0}" -ge 4 ] || fail "bad ICV drops not counted: $line"
    kill -0 "${PIDS[0]}" && kill -0 "${PIDS[1]}" || fail "ipsecd died"
    echo "OK wrongkey: dropped and counted ($bad)"
    exit 0
fi

PINGOPT=()
# Large compressible pings exercise IPComp in the bundle.
[ "$SCEN" = bundle ] && PINGOPT=(-s 1200 -p ff)
A ping -c 6 -i 0.2 -W 2 "${PINGOPT[@]}" -I "$SRC" "$DST" >"$W/ping.log" 2>&1
RECV=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$W/ping.log")
[ "${RECV:-0}" -ge 4 ] || fail "ping through the SA: $(cat "$W/ping.log")"

# A short TCP transfer (1 MB) checked byte for byte.
head -c 1000000 /dev/urandom >"$W/blob"
ip netns exec "$NSB" timeout 20 python3 - "$DST" "$W/recv" >/dev/null 2>&1 <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001)); s.listen(1); s.settimeout(15)
c, _ = s.accept(); c.settimeout(15)
with open(sys.argv[2], "wb") as f:
    while True:
        d = c.recv(65536)
        if not d: break
        f.write(d)
EOF
SRV=$!
PIDS+=($SRV)
sleep 0.5
A timeout 20 python3 - "$SRC" "$DST" "$W/blob" <<'EOF' || fail "TCP client"
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET); s.settimeout(15); s.bind((sys.argv[1], 0)); s.connect((sys.argv[2], 5001))
s.sendall(open(sys.argv[3], "rb").read()); s.close()
EOF
wait "$SRV"
cmp -s "$W/blob" "$W/recv" || fail "TCP transfer corrupted or incomplete"

la=$(stats "${PIDS[0]}" "$W/a.log")
lb=$(stats "${PIDS[1]}" "$W/b.log")
echo "A $la"
echo "B $lb"
outp=$(echo "$la" | sed -n 's/.*out_packets=\([0-9]*\).*/\1/p')
inp=$(echo "$lb" | sed -n 's/.*in_packets=\([0-9]*\).*/\1/p')
[ "${outp:-0}" -ge 100 ] && [ "${inp:-0}" -ge 100 ] || fail "counters: $la / $lb"

# setkey -D shows current bytes on the SA.
PFKEY_SOCKET="$W/a.sock" A "$SETKEY" -D >"$W/dump-a.txt" 2>&1
grep -q "current: [1-9][0-9]*(bytes)" "$W/dump-a.txt" || fail "no current bytes in setkey -D: $(cat "$W/dump-a.txt")"

if [ -n "${TSHARK:-}" ]; then
    sleep 1
    kill -INT "$TSHARK" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$TSHARK" 2>/dev/null || break; sleep 0.1; done
    if [ "$SCEN" = udp ]; then WANT="udp.port==4500"; elif [ "$SCEN" = bundle ]; then WANT="ah && esp"; else WANT="esp"; fi
    n_esp=$(tshark -r "$CAP" -Y "$WANT" 2>/dev/null | wc -l)
    n_clear=$(tshark -r "$CAP" -Y "icmp.type==8 || icmp.type==0 || icmpv6.type==128 || icmpv6.type==129 || tcp.port==5001" 2>/dev/null | wc -l)
    echo "wire: $n_esp protected, $n_clear cleartext inner packets"
    [ "$n_esp" -ge 20 ] || fail "expected ESP on the wire, saw $n_esp"
    [ "$n_clear" -eq 0 ] || fail "inner traffic visible on the wire"
fi
if [ "$SCEN" = tunnel ] && ! command -v nft >/dev/null; then
    echo "SKIPPED cleartext guard check: nft not installed"
elif [ "$SCEN" = tunnel ]; then
    # Cleartext between the protected subnets (B's socket marked so it skips
    # B's tunnel route) must not reach A: the `require` guard drops it.
    A nft list table inet racoon_rs >/dev/null 2>&1 || fail "no inbound guard table"
    B ip route add 198.51.100.0/25 via 192.0.2.1
    B ping -c 3 -i 0.2 -W 1 -m 677 -I 198.51.100.129 198.51.100.1 >"$W/clear.log" 2>&1 \
        && fail "cleartext ping answered: $(cat "$W/clear.log")"
    n=$(A nft list table inet racoon_rs | grep -o 'packets [0-9]*' | awk '{s+=$2} END {print s+0}')
    [ "$n" -ge 3 ] || fail "guard counted $n cleartext drops"
    echo "cleartext to a require policy dropped by the guard: $n packets"
    # Routes and guards go away with the policies.
    echo "spdflush;" | PFKEY_SOCKET="$W/a.sock" A "$SETKEY" -c >/dev/null 2>&1
    for _ in $(seq 50); do
        A ip route show table 220 2>/dev/null | grep -q "dev ipsec0" || break
        sleep 0.1
    done
    A ip route show table 220 2>/dev/null | grep -q "dev ipsec0" && fail "route left after spdflush"
    A nft list table inet racoon_rs >/dev/null 2>&1 && fail "guard left after spdflush"
    echo "routes and guards removed with the policies"
fi
echo "OK $SCEN"
