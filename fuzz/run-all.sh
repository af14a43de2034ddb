#!/usr/bin/env bash
# Run every cargo-fuzz target of the workspace for a bounded time each.
#   fuzz/run-all.sh [SECONDS_PER_TARGET] [FILTER]
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); works on the stable
# toolchain through RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z sanitizer flags).
# All fuzz crates build into one target dir, so shared dependencies compile once.
# Prints one line per target: crate/target, executions, result; exits 1 if any
# target crashed (the reproducer is left in <crate>/fuzz/artifacts/<target>/).
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
filter=${2:-}
export RUSTC_BOOTSTRAP=1
tdir=$PWD/target/fuzz
results=()
failed=0
for fz in */fuzz; do
    [ -f "$fz/Cargo.toml" ] || continue # e.g. target/fuzz, the build dir
    crate=${fz%/fuzz}
    for t in "$fz"/fuzz_targets/*.rs; do
        name=$(basename "$t" .rs)
        [ -n "$filter" ] && [[ "$crate/$name" != *$filter* ]] && continue
        corpus="$fz/corpus/$name"
        mkdir -p "$corpus"
        # Run on a scratch copy of the seed corpus so new inputs do not pile up in git.
        scratch=$(mktemp -d)
        cp -r "$corpus/." "$scratch/" 2>/dev/null
        log=$(mktemp)
        cargo fuzz run --fuzz-dir "$fz" --target-dir "$tdir" "$name" "$scratch" -- \
            -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 >"$log" 2>&1
        rc=$?
        runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | awk '{print $2}')
        if [ $rc -eq 0 ]; then
            res=ok
        else
            res="CRASH (exit $rc)"
            failed=1
            grep -E -m5 "panicked at|ERROR: |SUMMARY" "$log"
            tail -20 "$log"
        fi
        results+=("$(printf '%-28s %12s  %s' "$crate/$name" "${runs:-?}" "$res")")
        rm -rf "$scratch" "$log"
    done
done
printf '%-28s %12s  %s\n' TARGET EXECUTIONS RESULT
printf '%s\n' "${results[@]}"
exit $failed
