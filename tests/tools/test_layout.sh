#!/usr/bin/env bash
# The house as drawn in the README: each folder includes only what the data flow allows
# (net -> node -> {wal, engine}), so a change that runs an include back up the flow fails here.
#   engine/  engine/, common/, ballast/ (include/)
#   wal/     wal/, common/, ballast/: the log stores and returns bytes, and knows no engine
#   node/    node/, wal/, engine/engine.h (the engine's API, not its internals), common/, ballast/
#   net/     net/, node/node.h, common/, ballast/
#   client/  ballast/, net/frame.h (the codec it shares with the server, and nothing else), common/
#   common/  common/, ballast/
# Usage: test_layout.sh SOURCE_DIR
set -euo pipefail
cd "$1"
rules=(
    "engine:^(engine/|common/|ballast/)"
    "wal:^(wal/|common/|ballast/)"
    "node:^(node/|wal/|engine/engine\.h$|common/|ballast/)"
    "net:^(net/|node/node\.h$|common/|ballast/)"
    "client:^(ballast/|net/frame\.h$|common/)"
    "common:^(common/|ballast/)"
)
failed=0
checked=0
for rule in "${rules[@]}"; do
    dir=${rule%%:*}
    allowed=${rule#*:}
    for file in "$dir"/*.c "$dir"/*.h; do
        [ -e "$file" ] || continue
        while IFS= read -r included; do
            checked=$((checked + 1))
            if ! grep -qE "$allowed" <<< "$included"; then
                echo "FAIL: $file includes \"$included\": $dir/ may include only $allowed"
                failed=$((failed + 1))
            fi
        done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
    done
done
[ "$checked" -gt 0 ] || { echo "FAIL: no include was checked"; exit 1; }
echo "layout: $checked includes checked"
echo "$((checked - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
