#!/usr/bin/env bash
# kill -9 through the real server: transfers the CLI saw acknowledged survive a SIGKILL and a
# restart on the same data directory, with the same state digest; the REPL reads them back on
# one connection; a clean SIGTERM exits 0 and leaves a checkpoint.
# Usage: test_kill9.sh BALLAST
set -euo pipefail
ballast=$1
work=$(mktemp -d /tmp/bl_test_kill9_XXXXXX)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

start() { # starts the server on a free port; sets server_pid and addr
    : > "$work/out" # exists before the first poll (the background redirect may come later)
    "$ballast" start --data "$work/data" --listen 127.0.0.1:0 --accounts-max 1000 \
        --transfers-max 100000 --segment-size 8388608 > "$work/out" 2> "$work/err" &
    server_pid=$!
    for _ in $(seq 100); do
        addr=$(sed -n 's/^ballast listening on //p' "$work/out")
        [ -n "$addr" ] && return 0
        sleep 0.05
    done
    fail "server did not start: $(cat "$work/err")"
}

# Every command answers --help with its own usage, exit 0.
commands=$("$ballast" --help | sed -n 's/^  \([a-z-]*\) .*/\1/p')
[ "$(wc -w <<< "$commands")" -ge 14 ] || fail "ballast --help lists: $commands"
for command in $commands; do
    out=$("$ballast" "$command" --help) || fail "$command --help exited $?"
    grep -q "usage: ballast $command" <<< "$out" || fail "$command --help: $out"
done

start
for id in 1 2 3; do
    "$ballast" create-account --addr "$addr" --id $id --ledger 1 --code 1 --history > /dev/null
done
acked=()
for id in $(seq 100 140); do
    if "$ballast" transfer --addr "$addr" --id $id --debit $((id % 3 + 1)) \
        --credit $(((id + 1) % 3 + 1)) --amount $id --ledger 1 --code 9 > /dev/null; then
        acked+=($id)
    fi
done
[ ${#acked[@]} -eq 41 ] || fail "only ${#acked[@]} of 41 transfers acknowledged"
digest=$("$ballast" status --addr "$addr" | sed -n 's/^state_digest //p')
kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=

start
found=$("$ballast" lookup-transfer --addr "$addr" --json "${acked[@]}" | wc -l)
[ "$found" -eq ${#acked[@]} ] || fail "$found of ${#acked[@]} acknowledged transfers after kill -9"
after=$("$ballast" status --addr "$addr" | sed -n 's/^state_digest //p')
[ "$after" = "$digest" ] || fail "digest $after after restart, $digest before"
grep -q "amount 120" <<< "$("$ballast" lookup-transfer --addr "$addr" 120)" ||
    fail "transfer 120 fields"
repl=$(printf 'lookup-transfer 120\nbogus\nstatus\nquit\n' | "$ballast" repl --addr "$addr" 2>/dev/null)
grep -q "amount 120" <<< "$repl" || fail "repl lookup: $repl"
grep -q "state_digest $digest" <<< "$repl" || fail "repl status: $repl"
# History: account 1 is in every transfer with id % 3 of 0 (debit) or 2 (credit).
history_check() { # $1: when
    local want=0 want_credits=0 id
    for id in "${acked[@]}"; do
        [ $((id % 3)) -ne 1 ] && want=$((want + 1))
        [ $((id % 3)) -eq 2 ] && want_credits=$((want_credits + 1))
    done
    local got credits balances
    got=$("$ballast" history --addr "$addr" --json --limit 4 --all 1 | wc -l)
    [ "$got" -eq "$want" ] || fail "$1: history of account 1 has $got transfers, not $want"
    credits=$("$ballast" history --addr "$addr" --json --credits 1 | grep -c '"credit_account_id":"1"')
    [ "$credits" -eq "$want_credits" ] || fail "$1: $credits credits of account 1"
    balances=$("$ballast" balances --addr "$addr" --json --reversed --limit 1 1)
    grep -q "\"debits_posted\":\"$(lookup_debits 1)\"" <<< "$balances" ||
        fail "$1: latest balance entry $balances"
}
lookup_debits() {
    "$ballast" lookup-account --addr "$addr" --json "$1" | sed -n 's/.*"debits_posted":"\([0-9]*\)".*/\1/p'
}
history_check "after kill -9"
blocks=$("$ballast" blocks --addr "$addr" --json --from 1 --count 100 | wc -l)
height=$("$ballast" status --addr "$addr" | sed -n 's/^block_height //p')
[ "$blocks" -eq "$height" ] || fail "blocks: $blocks headers, height $height"
kill -TERM "$server_pid"
wait "$server_pid" || fail "SIGTERM: exit status $?"
server_pid=
ls "$work/data"/checkpoint-*.img > /dev/null || fail "no checkpoint after SIGTERM"
start
history_check "after a restart from the checkpoint"
kill -TERM "$server_pid"
wait "$server_pid" || fail "SIGTERM: exit status $?"
server_pid=
echo "1 passed, 0 failed"
