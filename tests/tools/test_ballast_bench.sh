#!/usr/bin/env bash
# ballast bench end to end:
#  1. a short run on a throwaway server with every workload shape: its --json report has every
#     field, the ledger is zero-balanced, and the results match what the workload asked for
#     (the share of pending transfers, each posted or voided; linked chains; queries); the
#     throwaway data directory is gone afterwards; --csv wrote per-second samples;
#  2. bad options exit 2 with a message; --help lists every option;
#  3. two runs with the same seed against one running server both pass: ids are new per run;
#  4. no server at --addr: exit 3.
# Checks the JSON with sed and grep only (no python or jq on a fresh machine).
# Usage: test_ballast_bench.sh BALLAST
set -euo pipefail
ballast=$1
work=$(mktemp -d /tmp/bl_test_bench_XXXXXX)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
num() { echo "$json" | sed -n "s/.*\"$1\":\([0-9][0-9.]*\).*/\1/p"; } # keys are unique
is() { grep -q "\"$1\":$2" <<< "$json" || fail "$1 is not $2 in: $json"; }

# 1. A throwaway server, every shape at once.
json=$("$ballast" bench --dir "$work" --accounts 1000 --transfers 20000 --clients 2 \
    --batch-size 500 --inflight 4 --pending-fraction 0.2 --linked-fraction 0.1 \
    --query-fraction 0.1 --hot-fraction 0.2 --zipf 0.8 --seed 42 --json \
    --csv "$work/samples.csv") || fail "bench exited $?: $json"
for key in seed id_prefix server addr partitions batch_size clients inflight accounts_per_s \
    transfers_per_s transfers_seconds latency_us p50 p90 p99 p99_9 max per_second results \
    account_results requests ledgers zero_balance totals_match sample_matched verified; do
    grep -q "\"$key\":" <<< "$json" || fail "no $key in: $json"
done
is server '"local"'
is partitions 1
is batch_size 500
is clients 2
is inflight 4
is accounts_created 1000
is accounts_found 1000
is zero_balance true
is totals_match true
is server_counts_match true
is results_expected true
is verified true
is sample_checked 1000
is sample_matched 1000
is new_transfers 20000
posted_debits=$(echo "$json" | sed -n 's/.*"debits_posted":"\([0-9]*\)".*/\1/p')
posted_credits=$(echo "$json" | sed -n 's/.*"credits_posted":"\([0-9]*\)".*/\1/p')
[ -n "$posted_debits" ] && [ "$posted_debits" = "$posted_credits" ] && [ "$posted_debits" != 0 ] ||
    fail "debits_posted $posted_debits, credits_posted $posted_credits"
pending=$(num pending_created)
posted=$(num posted)
voided=$(num voided)
# 20,000 x 0.2 = 4,000 expected; the standard deviation is about 57
[ "$pending" -ge 3700 ] && [ "$pending" -le 4300 ] || fail "$pending pending, expected about 4000"
[ $((posted + voided)) -eq "$pending" ] || fail "$posted posts + $voided voids != $pending pending"
[ "$posted" -gt 0 ] && [ "$voided" -gt 0 ] || fail "posts $posted, voids $voided"
acked=$(num transfers_acked)
[ "$acked" -eq $((20000 + pending)) ] || fail "$acked acknowledged, expected 20000 + $pending"
ok=$(echo "$json" | sed -n 's/.*"results":{"ok":\([0-9]*\)}.*/\1/p')
[ "$ok" = "$acked" ] || fail "results: not all $acked ok: $json"
linked=$(num linked_events)
[ "$linked" -ge 1500 ] && [ "$linked" -le 2500 ] || fail "$linked linked events, expected ~2000"
[ "$(num linked_chains)" -gt 0 ] || fail "no linked chains"
grep -q '"lookup_accounts":{"ok":[1-9]' <<< "$json" || fail "no lookup_accounts: $json"
echo "$json" | grep -Eq '"get_account_transfers":\{"(ok|bad_op)"' ||
    fail "no get_account_transfers: $json"
is query_mismatches 0
ls -d "$work"/ballast-bench-* 2> /dev/null && fail "the throwaway data directory is left"
grep -q '^elapsed_s,transfers_acked,transfers_per_s' <<< "$(head -1 "$work/samples.csv")" ||
    fail "csv header"
[ "$(wc -l < "$work/samples.csv")" -ge 2 ] || fail "no csv samples"

# 2. Bad options.
for args in "--batch-size 0" "--batch-size 8193" "--clients 0" "--inflight 65" \
    "--pending-fraction 1.5" "--zipf -1" "--accounts 1" "--seed x" "--addr nohost" "--bogus" \
    "--transfers" "extra" "--clients 64 --inflight 64 --batch-size 8192"; do
    set +e
    msg=$("$ballast" bench $args 2>&1)
    rc=$?
    set -e
    [ $rc -eq 2 ] || fail "bench $args exited $rc: $msg"
    grep -q "ballast bench" <<< "$msg" || fail "bench $args: no message: $msg"
done
help=$("$ballast" bench --help)
for option in addr dir partitions accounts transfers batch-size clients inflight timeout zipf \
    hot-fraction pending-fraction linked-fraction chain-length query-fraction seed \
    verify-sample json csv; do
    grep -q -- "--$option" <<< "$help" || fail "--help does not list --$option"
done

# 3. A running server, twice with the same seed.
: > "$work/out" # exists before the first poll (the background redirect may come later)
"$ballast" start --data "$work/data" --listen 127.0.0.1:0 --accounts-max 2000 \
    --transfers-max 20000 --segment-size 8388608 > "$work/out" 2> "$work/err" &
server_pid=$!
addr=
for _ in $(seq 100); do
    addr=$(sed -n 's/^ballast listening on //p' "$work/out")
    [ -n "$addr" ] && break
    sleep 0.05
done
[ -n "$addr" ] || fail "server did not start: $(cat "$work/err")"
prefixes=
for run in 1 2; do
    json=$("$ballast" bench --addr "$addr" --accounts 500 --transfers 5000 --batch-size 100 \
        --clients 2 --seed 42 --json) || fail "remote run $run exited $?: $json"
    is server '"remote"'
    is accounts_created 500
    is verified true
    is server_counts_match null
    ok=$(echo "$json" | sed -n 's/.*"results":{"ok":\([0-9]*\)}.*/\1/p')
    [ "$ok" = 5000 ] || fail "remote run $run: results: $json"
    prefixes="$prefixes $(echo "$json" | sed -n 's/.*"id_prefix":"\([0-9a-fx]*\)".*/\1/p')"
done
set -- $prefixes
[ "$1" != "$2" ] || fail "both runs used ids $1"
kill -TERM "$server_pid"
wait "$server_pid" || fail "server exit status $?"
server_pid=

# 4. Nobody at --addr.
set +e
"$ballast" bench --addr "$addr" --accounts 10 --transfers 10 > /dev/null 2>&1
rc=$?
set -e
[ $rc -eq 3 ] || fail "no server: exit status $rc, expected 3"
echo "1 passed, 0 failed"
