#!/usr/bin/env bash
# ballast-log end to end: a log written by the node (bench_wal --keep) verifies, replays to the
# digest the node reported with 1 and with 8 partitions, prints every block, and a flipped
# byte in a middle block makes verify fail (exit 1) and name the place.
# Usage: test_ballast_log.sh BENCH_WAL BALLAST_LOG
set -euo pipefail
bench=$1
tool=$2
work=$(mktemp -d /tmp/bl_test_tool_XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

out=$("$bench" --dir "$work" --keep --requests 50 --transfers 60000 --batch 1000 --submitters 2)
dir=$(echo "$out" | sed -n 's/^data directory kept: //p')
digest=$(echo "$out" | sed -n 's/^state_digest \([0-9a-f]*\) .*/\1/p')
[ -d "$dir" ] && [ -n "$digest" ] || fail "bench_wal did not leave a data directory: $out"

grep -q "checksums, chain and hashes verified" <<< "$("$tool" verify "$dir")" || fail "verify"
for n in 1 8; do
    got=$("$tool" replay --partitions $n "$dir" | sed -n 's/^state_digest //p')
    [ "$got" = "$digest" ] || fail "replay with $n partitions: digest $got, node said $digest"
done
blocks=$("$tool" print "$dir" | wc -l)
height=$(echo "$out" | sed -n 's/^state_digest [0-9a-f]* height //p')
[ "$blocks" = "$height" ] || fail "print listed $blocks blocks, height is $height"

# Flip one byte inside block 10's body: blocks after it are valid, so this is corruption.
segment=$(ls "$dir"/log-*.wal | head -1)
u32() { od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }
u64() { od -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '; }
at=0
while [ "$(u64 "$segment" $((at + 16)))" != 10 ]; do at=$((at + $(u32 "$segment" $((at + 8))))); done
offset=$((at + 192 + 40))
printf '\xff' | dd of="$segment" bs=1 seek="$offset" conv=notrunc status=none
set +e
msg=$("$tool" verify "$dir" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "verify of a corrupt log exited $rc: $msg"
grep -q "log corrupt" <<< "$msg" || fail "no corruption message: $msg"
echo "1 passed, 0 failed"
