#!/usr/bin/env bash
# ballast.sh: the project's one entry point on a Debian 12 machine.
#   ./ballast.sh start   install what is missing, build, start the server (./ballast-data,
#                        127.0.0.1:3410; options after `start` go to `ballast start`)
#   ./ballast.sh test    install what is missing, build, run every test (also under ASan+UBSan;
#                        the threaded ones also under ThreadSanitizer),
#                        then each libFuzzer target for BL_FUZZ_SECONDS (default 60) seconds
#   ./ballast.sh deps    only install what is missing
#   ./ballast.sh build   only build (release, in build/)
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(gcc cmake make pkg-config liburing-dev libsodium-dev libxxhash-dev
          libcmocka-dev clang libclang-rt-14-dev clang-format-14)
FUZZ_SECONDS=${BL_FUZZ_SECONDS:-60}
JOBS=$(nproc 2>/dev/null || echo 2)

deps() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "ballast: installing ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
    fi
}

build() { # build DIR [cmake options...]
    local dir=$1
    shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS"
}

case "${1:-}" in
deps) deps ;;
build) deps && build build ;;
start)
    shift
    deps
    build build
    exec ./build/ballast start "$@"
    ;;
test)
    deps
    build build
    (cd build && ctest --output-on-failure -j "$JOBS")
    build build-sanitize -DBL_SANITIZE=ON
    (cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --output-on-failure -j "$JOBS")
    build build-tsan -DBL_TSAN=ON
    (cd build-tsan && ctest --output-on-failure -j "$JOBS" -R 'test_ring|test_prefault|test_node|test_server|test_transfers|test_history|test_query|test_differential')
    build build-fuzz -DBL_FUZZ=ON -DCMAKE_C_COMPILER=clang
    for target in fuzz_frame fuzz_engine; do
        scratch=$(mktemp -d)
        mkdir "$scratch/corpus"
        echo "fuzz: $target for ${FUZZ_SECONDS} s"
        if ! ./build-fuzz/$target -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
            -artifact_prefix="$scratch/" "$scratch/corpus" "tests/fuzz/seeds/$target" \
            > "$scratch/log" 2>&1; then
            tail -40 "$scratch/log"
            for crash in "$scratch"/crash-* "$scratch"/leak-* "$scratch"/timeout-*; do
                [ -e "$crash" ] && echo "fuzz: failing input (hex):" && od -An -tx1 "$crash" | head -40
            done
            echo "fuzz: $target failed"
            rm -rf "$scratch"
            exit 1
        fi
        grep -E "^INFO: Seed|^Done|^stat::number_of_executed_units" "$scratch/log" || true
        rm -rf "$scratch"
    done
    echo "fuzz: 2 passed, 0 failed"
    ;;
*)
    echo "usage: $0 start|test|deps|build" >&2
    exit 2
    ;;
esac
