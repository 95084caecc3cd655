#!/usr/bin/env bash
# Every C file is as .clang-format (the root) says, under clang-format 14, Debian 12's: another
# version formats some constructs differently, so the check names the one it needs.
# Fix a failure with: git ls-files '*.c' '*.h' | xargs clang-format-14 -i
# Usage: test_format.sh SOURCE_DIR
set -euo pipefail
cd "$1"
tool=$(command -v clang-format-14 || true)
if [ -z "$tool" ]; then
    echo "test_format: clang-format-14 not found (./ballast.sh deps installs it)" >&2
    exit 1
fi
files=()
while IFS= read -r -d '' file; do files+=("$file"); done < <(
    find common engine wal node net client tools bench include tests \
        \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
unformatted=0
for file in "${files[@]}"; do
    if ! "$tool" --dry-run --Werror "$file" 2> /dev/null; then
        echo "test_format: $file differs from .clang-format:" >&2
        "$tool" "$file" | diff -u "$file" - | head -20 >&2 || true
        unformatted=$((unformatted + 1))
    fi
done
echo "test_format: ${#files[@]} files checked, $unformatted not formatted"
[ "$unformatted" -eq 0 ]
