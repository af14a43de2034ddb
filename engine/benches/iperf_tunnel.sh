#!/bin/bash
# Builds release ipsecd + setkey and runs engine/bench/tunnel.sh (iperf3
# through the bare veth, ipsecd raw ESP and ESP-in-UDP, strongSwan+libipsec,
# in one run; root). Environment as for tunnel.sh.
# No target-cpu=native: the crypto crates detect AES-NI/SHA-NI at run time.
set -eu
cd "$(dirname "$0")/../.."
cargo build --release -p engine --bin ipsecd -p setkey-rs --bin setkey >&2
exec engine/bench/tunnel.sh "$@"
