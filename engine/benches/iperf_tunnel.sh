#!/bin/bash
# iperf3 through a manual-key ESP tunnel (aes-cbc/hmac-sha1, ipsecd --tun in two
# network namespaces) next to the bare veth between the same namespaces, in the
# same run; prints both rates and the ratio. Needs root, iperf3 and iproute2.
#
#   engine/benches/iperf_tunnel.sh            # builds release ipsecd + setkey
#   PROFILE=debug engine/benches/iperf_tunnel.sh
# No target-cpu=native: the crypto crates detect AES-NI/SHA-NI at run time.
set -eu
cd "$(dirname "$0")/../.."
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
    cargo build --release -p engine --bin ipsecd -p setkey-rs --bin setkey >&2
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
bash engine/tests/netns/dataplane.sh "target/$PROFILE/ipsecd" "target/$PROFILE/setkey" "$W" bench
