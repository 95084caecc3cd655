#!/usr/bin/env bash
# What an operator meets, through the real binaries: a second server on a held data directory
# is refused and the first goes on; after a SIGKILL with checkpoints that removed the first
# segments, ballast-log verify, print and replay call the directory healthy (exit 0) and replay
# reaches the server's height and transfers; each damage to the newest durable blocks (a flipped byte, the
# newest segment deleted or emptied, blocks.hdr deleted) makes the server refuse to start,
# naming the file and the way on, with blocks.hdr kept; ballast-log truncate then drops what
# was lost, saying how much, and the server starts at that height; ballast-log tells "no such
# directory" and "not a data directory" (exit 3) from damage (exit 1); a segment larger than
# the free space is refused at start.
# Usage: test_operator.sh BALLAST BALLAST_LOG
set -euo pipefail
ballast=$1
tool=$2
work=$(mktemp -d /tmp/bl_test_operator_XXXXXX)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
checks=0
pass() { checks=$((checks + 1)); }

start() { # DIR: starts a server on a free port; sets server_pid and addr
    : > "$work/out"
    "$ballast" start --data "$1" --listen 127.0.0.1:0 --checkpoint-blocks 5 \
        --segment-size 8388608 --partitions 1 > "$work/out" 2> "$work/err" &
    server_pid=$!
    for _ in $(seq 200); do
        addr=$(sed -n 's/^ballast listening on //p' "$work/out")
        [ -n "$addr" ] && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    fail "server did not start: $(cat "$work/err")"
}
stop9() { kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=; }
refused() { # DIR: the server must refuse to start; its stderr goes to $work/refusal
    set +e
    timeout 20 "$ballast" start --data "$1" --listen 127.0.0.1:0 --segment-size 8388608 \
        > /dev/null 2> "$work/refusal"
    local rc=$?
    set -e
    [ $rc -eq 1 ] || fail "start on a damaged directory exited $rc: $(cat "$work/refusal")"
}
status_field() { "$ballast" status --addr "$addr" | sed -n "s/^$1 //p"; }

data="$work/data"
start "$data"
# 1. One process per data directory.
set +e
second=$(timeout 20 "$ballast" start --data "$data" --listen 127.0.0.1:0 2>&1 > /dev/null)
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "in use by another process" <<< "$second" ||
    fail "a second server on $data: exit $rc, $second"
"$ballast" ping --addr "$addr" > /dev/null || fail "the first server stopped serving"
pass

# 24 blocks of 8,192 transfers, one request in flight: one block each.
"$ballast" bench --addr "$addr" --accounts 1000 --transfers 196608 --inflight 1 \
    > "$work/bench" 2>&1 || fail "bench: $(tail -5 "$work/bench")"
height=$(status_field block_height)
digest=$(status_field state_digest)
transfers=$(status_field transfers_count)
[ "$height" -ge 25 ] || fail "height $height after the bench"
# The server said what its memory budget holds; status --data shows the store and the memory.
grep -q "^ballast: memory budget [0-9]* MiB: committed" "$work/err" ||
    fail "no memory budget line: $(cat "$work/err")"
local_status=$("$ballast" status --addr "$addr" --data "$data")
[ "$(sed -n 's/^store_records //p' <<< "$local_status")" = "$transfers" ] ||
    fail "status --data: $local_status"
for field in store_bytes memory_budget memory_committed memory_resident; do
    value=$(sed -n "s/^$field //p" <<< "$local_status")
    [ -n "$value" ] && [ "$value" -gt 0 ] || fail "status --data $field: $local_status"
done
[ "$(sed -n 's/^store_bytes //p' <<< "$local_status")" -ge $((transfers * 128)) ] ||
    fail "the store holds less than its records: $local_status"
pass
stop9
# A budget above the machine's memory, or not a size, is refused before anything starts.
for memory in 1000TiB 2XB; do
    set +e
    out=$("$ballast" start --data "$work/never" --memory "$memory" 2>&1)
    rc=$?
    set -e
    [ $rc -eq 2 ] && [ ! -e "$work/never" ] || fail "--memory $memory: exit $rc, $out"
done
grep -q "more than this machine's memory" <<< "$("$ballast" start --data "$work/never" \
    --memory 1000TiB 2>&1)" || fail "--memory 1000TiB does not say why"
pass

# 2. A healthy directory whose first segments a checkpoint removed: exit 0, digest equal.
[ ! -e "$data/log-00000000000000000001.wal" ] || fail "no checkpoint removed the first segment"
out=$("$tool" verify "$data" 2>&1) || fail "verify of a healthy directory: $out"
grep -q "checksums, chain and hashes verified" <<< "$out" || fail "verify said: $out"
grep -q "starting from the checkpoint at height" <<< "$out" || fail "verify did not say: $out"
"$tool" print "$data" > "$work/print" 2>&1 || fail "print: $(tail -3 "$work/print")"
replayed=$("$tool" replay "$data" 2>/dev/null) || fail "replay of a healthy directory"
[ "$(sed -n 's/^height //p' <<< "$replayed")" = "$height" ] || fail "replay: $replayed"
[ "$(sed -n 's/^transfers //p' <<< "$replayed")" = "$transfers" ] || fail "replay: $replayed"
pass

# 3. Damage to the newest durable blocks: refused, named, nothing changed.
newest=$(ls "$data"/log-*.wal | tail -1)
u32() { od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }
u64() { od -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '; }
at=0
while [ "$(u64 "$newest" $((at + 16)))" != "$height" ]; do
    at=$((at + $(u32 "$newest" $((at + 8)))))
done
for damage in flip delete empty headers; do
    copy="$work/$damage"
    cp -a "$data" "$copy"
    segment="$copy/$(basename "$newest")"
    case $damage in
    flip) printf '\xff' | dd of="$segment" bs=1 seek=$((at + 192 + 4000)) conv=notrunc status=none ;;
    delete) rm "$segment" ;;
    empty) truncate -s 0 "$segment" ;;
    headers) rm "$copy/blocks.hdr" ;;
    esac
    sum=$(md5sum "$copy"/* 2>/dev/null | grep -v ballast.lock | sed "s|$copy||" | sort)
    refused "$copy"
    msg=$(cat "$work/refusal")
    after=$(md5sum "$copy"/* 2>/dev/null | grep -v ballast.lock | sed "s|$copy||" | sort)
    [ "$sum" = "$after" ] ||
        fail "$damage: the refused start changed the directory: $(diff <(echo "$sum") <(echo "$after"))"
    if [ $damage = headers ]; then
        grep -q "blocks.hdr is missing" <<< "$msg" || fail "$damage: $msg"
    else
        grep -q "$(basename "$newest")" <<< "$msg" || fail "$damage: the file is not named: $msg"
        grep -q "were acknowledged" <<< "$msg" || fail "$damage: $msg"
        grep -q "ballast-log truncate" <<< "$msg" || fail "$damage: no way on: $msg"
        set +e
        "$tool" verify "$copy" > /dev/null 2>&1
        rc=$?
        set -e
        [ $rc -eq 1 ] || fail "$damage: verify exited $rc on a damaged directory"
    fi
    pass
done

# 4. The operator's cut: says what it drops; the server starts at that height.
to=$((height - 1))
out=$("$tool" truncate --to-height $to "$work/flip" 2>&1) || fail "truncate: $out"
grep -q "1 acknowledged blocks (8192 events)" <<< "$out" || fail "truncate said: $out"
start "$work/flip"
[ "$(status_field block_height)" = "$to" ] || fail "height after truncate"
[ "$(status_field transfers_count)" = $((transfers - 8192)) ] || fail "transfers after truncate"
stop9
out=$("$tool" truncate --to-height "$height" "$work/headers" 2>&1) || fail "truncate: $out"
start "$work/headers"
[ "$(status_field state_digest)" = "$digest" ] || fail "digest after blocks.hdr was recreated"
stop9
pass

# 5. Exit statuses.
set +e
"$tool" verify "$work/nonexistent" > "$work/o" 2>&1; [ $? -eq 3 ] || fail "verify of no directory"
mkdir "$work/nodata"
"$tool" verify "$work/nodata" > "$work/o" 2>&1; rc=$?
[ $rc -eq 3 ] || fail "verify of an empty directory exited $rc"
grep -q "0 blocks" "$work/o" && fail "verify of an empty directory: $(cat "$work/o")"
"$tool" replay "$work/nodata" > /dev/null 2>&1; [ $? -eq 3 ] || fail "replay of an empty directory"
set -e
pass

# 6. A segment larger than the free space is refused at start.
set +e
msg=$(timeout 20 "$ballast" start --data "$work/big" --listen 127.0.0.1:0 \
    --segment-size 4294963200 2>&1 > /dev/null)
rc=$?
set -e
free=$(df -B1 --output=avail "$work" | tail -1)
if [ "$free" -lt 4294963200 ]; then
    [ $rc -eq 1 ] && grep -q "does not fit" <<< "$msg" || fail "a huge segment: $rc $msg"
    pass
fi
echo "$checks passed, 0 failed"
