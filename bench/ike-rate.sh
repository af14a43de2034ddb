#!/usr/bin/env bash
# IKE setup rate: Main Mode (PSK, aes128/sha1/modp2048) + Quick Mode (ESP aes128/hmac-sha1,
# tunnel 198.51.100.0/25 <-> 198.51.100.128/25) per second, racoon-rs as responder and then
# strongSwan (charon-systemd + kernel-libipsec) as responder, in the same run, same load.
# The initiator is `ike-load` (racoon-rs/src/bin/ike-load.rs): N exchanges, C in flight, each
# a fresh ike::Endpoint, DELETE after Quick Mode. Prints both rates, the ratio and the CPU of
# each responder and of the load generator (all share the machine's cores).
#
# Root; network namespaces h5r-a (initiator, 192.0.2.1) and h5r-b (responder, 192.0.2.2),
# no default route. Bounded: every load run has a wall-clock limit (LOAD_TIMEOUT) and no run
# starts once the script's budget (BUDGET) could be exceeded, so it ends in under 3 minutes.
#
#   CARGO_TARGET_DIR=/work/target-h5 cargo build --release -p racoon-rs -p setkey-rs
#   TARGET_DIR=/work/target-h5 sudo bench/ike-rate.sh
#
# Environment: N (500), C (32), THREADS (load generator threads, 1), SOURCES (initiator
# addresses 192.0.2.10.., 8), DH (modp2048),
# RESPONDERS ("racoon strongswan"; "racoon_b" runs RACOON_B_BIN, e.g. an older build, with
# racoon's configuration), RACOON_BIN, SETKEY_BIN, IKELOAD_BIN (default
# $TARGET_DIR/release/..., TARGET_DIR default <repo>/target), CHARON (/usr/sbin/charon-systemd),
# LOAD_TIMEOUT (25 s per load run), BUDGET (170 s for the whole script), REPEAT (3 rounds, responders alternate; medians printed), KEEP=1 keeps the work directory.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${TARGET_DIR:-${CARGO_TARGET_DIR:-$REPO/target}}
RACOON_BIN=${RACOON_BIN:-$TARGET_DIR/release/racoon}
SETKEY_BIN=${SETKEY_BIN:-$TARGET_DIR/release/setkey}
IKELOAD_BIN=${IKELOAD_BIN:-$TARGET_DIR/release/ike-load}
CHARON=${CHARON:-/usr/sbin/charon-systemd}
N=${N:-500}
C=${C:-32}
THREADS=${THREADS:-1}
# initiator source addresses 192.0.2.10 ...: racoon-rs allows 8 half-open phase 1s per peer
# address (a DoS limit, not configurable), so C/SOURCES must stay <= 8
SOURCES=${SOURCES:-8}
DH=${DH:-modp2048}
RESPONDERS=${RESPONDERS:-racoon strongswan}
LOAD_TIMEOUT=${LOAD_TIMEOUT:-25}
# whole-run budget, seconds: no new load run starts after BUDGET - LOAD_TIMEOUT - 10
BUDGET=${BUDGET:-170}
REPEAT=${REPEAT:-3}
NS_I=h5r-a NS_R=h5r-b
IP_I=192.0.2.1 IP_R=192.0.2.2
PSK=h5r-bench-psk-0123456789
W=$(mktemp -d /tmp/h5r-ike-rate.XXXXXX)
PIDS=()
TCK=$(getconf CLK_TCK)

log() { echo "ike-rate: $*" >&2; }
die() { log "$*"; exit 1; }

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    sleep 0.3
    for p in "${PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null
    done
    ip netns del "$NS_I" 2>/dev/null
    ip netns del "$NS_R" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then log "work directory kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for b in "$RACOON_BIN" "$SETKEY_BIN" "$IKELOAD_BIN"; do
    [ -x "$b" ] || die "missing $b (CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p racoon-rs -p setkey-rs)"
done

net_up() {
    ip netns del "$NS_I" 2>/dev/null
    ip netns del "$NS_R" 2>/dev/null
    ip netns add "$NS_I" && ip netns add "$NS_R" || die "ip netns add"
    ip link add h5r-vi netns "$NS_I" type veth peer name h5r-vr netns "$NS_R" || die "veth"
    ip -n "$NS_I" addr add "$IP_I/24" dev h5r-vi
    ip -n "$NS_R" addr add "$IP_R/24" dev h5r-vr
    for ((i = 0; i < SOURCES; i++)); do ip -n "$NS_I" addr add "192.0.2.$((10 + i))/24" dev h5r-vi; done
    ip -n "$NS_I" addr add 198.51.100.1/25 dev lo
    ip -n "$NS_R" addr add 198.51.100.129/25 dev lo
    for ns in "$NS_I" "$NS_R"; do ip -n "$ns" link set lo up; done
    ip -n "$NS_I" link set h5r-vi up
    ip -n "$NS_R" link set h5r-vr up
}

# utime+stime of PID in clock ticks
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

wait_for() { # wait_for SECONDS CMD...: polls every 0.1 s
    local i n=$(($1 * 10))
    shift
    for ((i = 0; i < n; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

start_racoon() { # start_racoon [BINARY]
    local d=$W/racoon bin=${1:-$RACOON_BIN}
    mkdir -p "$d"
    : >"$d/psk.txt"
    for ((i = 0; i < SOURCES; i++)); do printf '192.0.2.%s\t%s\n' $((10 + i)) "$PSK" >>"$d/psk.txt"; done
    chmod 600 "$d/psk.txt"
    cat >"$d/racoon.conf" <<EOF
path pre_shared_key "$d/psk.txt";
listen {
    isakmp $IP_R [500];
    isakmp_natt $IP_R [4500];
    adminsock "$d/racoon.sock";
}
sainfo address 198.51.100.128/25 any address 198.51.100.0/25 any {
    lifetime time 1 hour;
    encryption_algorithm aes 128;
    authentication_algorithm hmac_sha1;
    compression_algorithm deflate;
}
EOF
    # one address-specific remote block per initiator address: configured peers (racoon-rs
    # sheds late initiations only from unconfigured ones)
    for ((i = 0; i < SOURCES; i++)); do
        cat >>"$d/racoon.conf" <<EOF
remote 192.0.2.$((10 + i)) {
    exchange_mode main;
    proposal_check obey;
    my_identifier address $IP_R;
    peers_identifier address 192.0.2.$((10 + i));
    verify_identifier on;
    nat_traversal on;
    initial_contact off;
    lifetime time 8 hour;
    proposal {
        encryption_algorithm aes 128;
        hash_algorithm sha1;
        authentication_method pre_shared_key;
        dh_group $DH;
    }
}
EOF
    done
    cat >"$d/setkey.conf" <<EOF
flush;
spdflush;
spdadd 198.51.100.128/25 198.51.100.0/25 any -P out ipsec esp/tunnel/$IP_R-$IP_I/require;
spdadd 198.51.100.0/25 198.51.100.128/25 any -P in ipsec esp/tunnel/$IP_I-$IP_R/require;
EOF
    PFKEY_SOCKET=$d/pfkey.sock ip netns exec "$NS_R" "$bin" -F --no-dataplane \
        --pfkey-socket "$d/pfkey.sock" -f "$d/racoon.conf" </dev/null >"$d/daemon.out" 2>&1 &
    RPID=$!
    PIDS+=("$RPID")
    wait_for 10 grep -q "racoon-rs started" "$d/daemon.out" || die "racoon did not start: $(tail -3 "$d/daemon.out")"
    wait_for 5 test -S "$d/pfkey.sock" || die "no PF_KEY socket"
    PFKEY_SOCKET=$d/pfkey.sock "$SETKEY_BIN" -f "$d/setkey.conf" >"$d/setkey.out" 2>&1 || die "setkey -f failed"
}

start_strongswan() {
    local d=$W/strongswan
    mkdir -p "$d/swanctl"
    cat >"$d/strongswan.conf" <<EOF
charon {
  load_modular = no
  load = random nonce openssl aes sha1 sha2 md5 hmac gmp pem pkcs1 x509 pubkey kernel-libipsec kernel-netlink socket-default vici
  # no data plane in this benchmark (racoon-rs runs with --no-dataplane too)
  install_routes = no
  # one initiator address: no per-IP half-open throttling; a hash table with more than one bucket
  block_threshold = 100000
  init_limit_half_open = 0
  ikesa_table_size = 1024
  ikesa_table_segments = 16
  plugins {
    vici { socket = unix://$d/charon.vici }
    socket-default { fwmark = 0x42 }
    kernel-netlink { fwmark = !0x42 }
  }
  filelog {
    log {
      path = $d/charon.log
      append = no
      default = 0
    }
  }
}
charon-systemd { journal { default = -1 } }
swanctl { socket = unix://$d/charon.vici }
EOF
    cat >"$d/swanctl/swanctl.conf" <<EOF
connections {
  bench {
    version = 1
    aggressive = no
    local_addrs = $IP_R
    remote_addrs = 192.0.2.0/24
    proposals = aes128-sha1-$DH
    encap = yes
    unique = never
    local { auth = psk
            id = $IP_R }
    remote { auth = psk
             id = %any }
    children {
      bench {
        local_ts = 198.51.100.128/25
        remote_ts = 198.51.100.0/25
        esp_proposals = aes128-sha1
        mode = tunnel
        start_action = none
      }
    }
  }
}
secrets {
  ike-bench {
    secret = "$PSK"
  }
}
EOF
    STRONGSWAN_CONF=$d/strongswan.conf ip netns exec "$NS_R" "$CHARON" </dev/null >"$d/daemon.out" 2>&1 &
    RPID=$!
    PIDS+=("$RPID")
    wait_for 10 sh -c "STRONGSWAN_CONF=$d/strongswan.conf timeout 2 swanctl --stats >/dev/null 2>&1" ||
        die "charon did not answer on vici: $(tail -3 "$d/daemon.out")"
    STRONGSWAN_CONF=$d/strongswan.conf SWANCTL_DIR=$d/swanctl timeout 10 swanctl --load-all >"$d/swanctl.out" 2>&1 ||
        die "swanctl --load-all: $(tail -3 "$d/swanctl.out")"
}

stop_responder() {
    kill "$RPID" 2>/dev/null
    wait_for 3 sh -c "! kill -0 $RPID 2>/dev/null" || kill -9 "$RPID" 2>/dev/null
    wait "$RPID" 2>/dev/null
}

run_load() { # run_load NAME: prints the ike-load line; sets RATE_<NAME>
    local name=$1 out=$W/load-$1.out t0 t1 c0 c1 wall cpu_r cpu_l
    c0=$(ticks "$RPID")
    t0=$(date +%s.%N)
    ip netns exec "$NS_I" /usr/bin/time -f 'loadgen_cpu_s=%U+%S' "$IKELOAD_BIN" \
        --local 192.0.2.10 --sources "$SOURCES" --peer "$IP_R" --psk "$PSK" --nat-traversal --dh-group "$DH" \
        -n "$N" -c "$C" --threads "$THREADS" --timeout "$LOAD_TIMEOUT" >"$out" 2>"$out.err"
    local rc=$?
    t1=$(date +%s.%N)
    c1=$(ticks "$RPID")
    wall=$(echo "$t1 - $t0" | bc -l)
    cpu_r=$(echo "($c1 - $c0) / $TCK / $wall * 100" | bc -l)
    cpu_l=$(grep -o 'loadgen_cpu_s=[0-9.+]*' "$out.err" | cut -d= -f2)
    cpu_l=$(echo "($cpu_l) / $wall * 100" | bc -l 2>/dev/null || echo 0)
    [ $rc = 0 ] || log "$name: ike-load exit $rc: $(grep -v loadgen_cpu "$out.err" | sort | uniq -c | sort -rn | head -3)"
    local line rate ok cpu_ms=0
    line=$(grep '^ike-load:' "$out")
    rate=$(echo "$line" | grep -o 'rate=[0-9.]*' | cut -d= -f2)
    ok=$(echo "$line" | grep -o ' ok=[0-9]*' | cut -d= -f2)
    # responder CPU time (all threads) per completed setup: the figure least disturbed by
    # other load on the machine
    [ "${ok:-0}" -gt 0 ] && cpu_ms=$(echo "($c1 - $c0) * 1000 / $TCK / $ok" | bc -l)
    printf '%-10s %s responder_cpu=%.0f%% (%.2f ms/setup) loadgen_cpu=%.0f%% (of one core, over %.1f s)\n' \
        "$name" "${line#ike-load: }" "$cpu_r" "$cpu_ms" "$cpu_l" "$wall"
    eval "RATE_$name=${rate:-0}"
    eval "CPUMS_$name=$(printf '%.3f' "$cpu_ms")"
}

net_up
log "N=$N C=$C THREADS=$THREADS SOURCES=$SOURCES DH=$DH REPEAT=$REPEAT, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); binaries: $RACOON_BIN $IKELOAD_BIN, $CHARON"
declare -A RATES CPUMS
for ((round = 1; round <= REPEAT; round++)); do
    for r in $RESPONDERS; do
        if ((SECONDS > BUDGET - LOAD_TIMEOUT - 10)); then
            log "time budget ($BUDGET s) reached: round $round, $r and later runs skipped"
            break 2
        fi
        case $r in
        racoon) start_racoon ;;
        racoon_b) start_racoon "${RACOON_B_BIN:?RACOON_B_BIN: a second racoon binary to compare}" ;;
        strongswan) start_strongswan ;;
        *) die "unknown responder $r" ;;
        esac
        run_load "$r"
        stop_responder
        eval "RATES[$r]+=\" \$RATE_$r\""
        eval "CPUMS[$r]+=\" \$CPUMS_$r\""
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2); else print 0}'; }
for r in $RESPONDERS; do
    printf 'median %-10s %s/s (runs:%s), responder CPU %s ms/setup (runs:%s)\n' "$r" \
        "$(echo "${RATES[$r]}" | median)" "${RATES[$r]}" "$(echo "${CPUMS[$r]}" | median)" "${CPUMS[$r]}"
done
if [ -n "${RATES[racoon]:-}" ] && [ -n "${RATES[strongswan]:-}" ]; then
    mr=$(echo "${RATES[racoon]}" | median) ms=$(echo "${RATES[strongswan]}" | median)
    [ "$ms" != 0 ] && printf 'ratio racoon-rs/strongSwan (medians) = %.2f\n' "$(echo "$mr / $ms" | bc -l)"
    cr=$(echo "${CPUMS[racoon]}" | median) cs=$(echo "${CPUMS[strongswan]}" | median)
    [ "$cr" != 0 ] && printf 'responder CPU per setup strongSwan/racoon-rs (medians) = %.2f\n' "$(echo "$cs / $cr" | bc -l)"
fi
