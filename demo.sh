#!/bin/bash
# racoon-rs demo: two network namespaces joined by a veth pair (192.0.2.0/24),
# each protecting one half of 198.51.100.0/25 (198.51.100.0/26 and
# 198.51.100.64/26), racoon-rs on each side with the configs from
# examples/site-to-site, then a ping through the tunnel, `setkey -D` and
# `racoonctl show-sa isakmp`.
#
# Run as root on a Debian-like machine with cargo:  sudo ./demo.sh
# Everything it creates (namespaces rrdemo-left-PID / rrdemo-right-PID, the
# daemons it started, a temporary directory) is removed on every exit path.
# It never touches the host's own network namespace or adds default routes.
#
# Exit status: 0 when the ping went through the tunnel; otherwise 1 and a
# line "demo: FAILED at step N (...)" naming the step.

set -u
set -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TAG=$$
NS_L="rrdemo-left-$TAG"
NS_R="rrdemo-right-$TAG"
WORK=""
PIDS=()
STEP="0 (start)"

say() { printf 'demo: %s\n' "$*"; }
fail() {
	say "FAILED at step $STEP: $*"
	exit 1
}
step() {
	STEP="$1"
	say "step $STEP"
}

cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
	done
	ip netns del "$NS_L" 2>/dev/null
	ip netns del "$NS_R" 2>/dev/null
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ "$rc" -ne 0 ]; then
			for s in left right; do
				if [ -f "$WORK/$s/racoon.log" ]; then
					say "last lines of the $s racoon log:"
					tail -n 15 "$WORK/$s/racoon.log" | sed 's/^/    /'
				fi
			done
		fi
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

[ "$(id -u)" -eq 0 ] || { echo "demo.sh must run as root (network namespaces)"; exit 1; }
for t in ip ping cargo; do
	command -v "$t" >/dev/null || { echo "demo.sh needs '$t'"; exit 1; }
done

step "1 (build)"
(cd "$HERE" && cargo build -p racoon-rs -p setkey-rs) || fail "cargo build"
BIN="$HERE/target/debug"
RACOON="$BIN/racoon"
RACOONCTL="$BIN/racoonctl"
SETKEY="$BIN/setkey"
for b in "$RACOON" "$RACOONCTL" "$SETKEY"; do
	[ -x "$b" ] || fail "missing $b"
done

step "2 (configuration)"
WORK=$(mktemp -d /tmp/racoon-rs-demo.XXXXXX)
for s in left right; do
	mkdir -p "$WORK/$s"
	src="$HERE/examples/site-to-site/$s"
	sed -e "s|/etc/racoon/psk.txt|$WORK/$s/psk.txt|" \
	    -e "s|/var/run/racoon.pid|$WORK/$s/racoon.pid|" \
	    -e "s|/var/racoon/racoon.sock|$WORK/$s/racoon.sock|" \
	    "$src/racoon.conf" > "$WORK/$s/racoon.conf"
	install -m 0600 "$src/psk.txt" "$WORK/$s/psk.txt"
	cp "$src/setkey.conf" "$WORK/$s/setkey.conf"
	"$RACOON" --check -f "$WORK/$s/racoon.conf" || fail "racoon --check ($s)"
done

step "3 (namespaces)"
ip netns add "$NS_L" || fail "ip netns add"
ip netns add "$NS_R" || fail "ip netns add"
ip link add "rrl$TAG" netns "$NS_L" type veth peer name "rrr$TAG" netns "$NS_R" ||
	fail "veth pair"
nsl() { ip netns exec "$NS_L" "$@"; }
nsr() { ip netns exec "$NS_R" "$@"; }
nsl ip link set lo up && nsr ip link set lo up || fail "lo up"
nsl ip addr add 192.0.2.1/24 dev "rrl$TAG" && nsr ip addr add 192.0.2.2/24 dev "rrr$TAG" ||
	fail "veth addresses"
nsl ip link set "rrl$TAG" up && nsr ip link set "rrr$TAG" up || fail "veth up"
# The protected subnets' hosts (on lo: no extra interface type needed).
nsl ip addr add 198.51.100.1/26 dev lo && nsr ip addr add 198.51.100.65/26 dev lo ||
	fail "subnet addresses"
nsl ping -c 1 -W 2 192.0.2.2 >/dev/null || fail "the veth link does not work"

step "4 (racoon on both sides)"
for s in left right; do
	ns=$NS_L
	[ "$s" = right ] && ns=$NS_R
	ip netns exec "$ns" "$RACOON" -F -f "$WORK/$s/racoon.conf" \
		--pfkey-socket "$WORK/$s/pfkey.sock" >/dev/null 2>"$WORK/$s/racoon.log" &
	PIDS+=("$!")
done
for s in left right; do
	for _ in $(seq 1 100); do
		[ -S "$WORK/$s/racoon.sock" ] && [ -S "$WORK/$s/pfkey.sock" ] && break
		sleep 0.1
	done
	[ -S "$WORK/$s/racoon.sock" ] || fail "racoon ($s) did not open its admin socket within 10 s"
done
for p in "${PIDS[@]}"; do
	kill -0 "$p" 2>/dev/null || fail "racoon exited"
done

step "5 (policies with setkey)"
for s in left right; do
	ns=$NS_L
	[ "$s" = right ] && ns=$NS_R
	ip netns exec "$ns" env PFKEY_SOCKET="$WORK/$s/pfkey.sock" "$SETKEY" -f "$WORK/$s/setkey.conf" ||
		fail "setkey -f ($s)"
done
nsl env PFKEY_SOCKET="$WORK/left/pfkey.sock" "$SETKEY" -DP | sed 's/^/    left: /'

step "6 (ping through the tunnel)"
ok=0
for _ in $(seq 1 10); do
	if nsl ping -c 2 -W 2 -I 198.51.100.1 198.51.100.65 >/dev/null 2>&1; then
		ok=1
		break
	fi
done
nsl env PFKEY_SOCKET="$WORK/left/pfkey.sock" "$SETKEY" -D | sed 's/^/    left: /'
nsr env PFKEY_SOCKET="$WORK/right/pfkey.sock" "$SETKEY" -D | sed 's/^/    right: /'
for s in left right; do
	"$RACOONCTL" -s "$WORK/$s/racoon.sock" show-sa isakmp | sed "s/^/    $s: /"
done
if [ "$ok" -ne 1 ]; then
	if grep -q "IKE not available" "$WORK/left/racoon.log"; then
		fail "no tunnel: this build has no IKE core yet (racoon logs 'IKE not available')"
	fi
	fail "no reply from 198.51.100.65 through the tunnel within ~40 s"
fi

step "7 (done)"
say "tunnel up: 198.51.100.1 -> 198.51.100.65 answered through ESP"
exit 0
