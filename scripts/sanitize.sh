#!/usr/bin/env bash
# Runs the runtime, format, image, kernel, ONNX and CLI tests under AddressSanitizer (with
# LeakSanitizer) and/or ThreadSanitizer, each in its own build directory.
#
#   scripts/sanitize.sh [address|thread]...     (default: both)
#
# The training and compiler tests are left out: they exercise the same kernels, take most of the
# suite's time, and are 5-20x slower under a sanitizer. The allocation-counting tests skip
# themselves in sanitized builds (the sanitizer owns malloc; see Sources/CMTZAllocationCounter).
# Results and timings: docs/ROBUSTNESS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

filter='^(CMTZKernelsTests|MTZCoreTests|MTZImageTests|MTZRuntimeTests|MTZONNXTests|MTZCLITests)\.'
sanitizers=("$@")
[ "${#sanitizers[@]}" -gt 0 ] || sanitizers=(address thread)

# Every report is fatal; leaks inside Foundation's Process (used by the CLI tests) are not ours.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=0}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

failed=0
summary=()
for s in "${sanitizers[@]}"; do
    case "$s" in
        address) dir=.build-asan ;;
        thread) dir=.build-tsan ;;
        *) echo "sanitize.sh: unknown sanitizer '$s' (address or thread)" >&2; exit 2 ;;
    esac
    echo "== $s sanitizer ($dir)"
    start=$(date +%s)
    status=0
    # (ld.gold warns about every ASan check symbol; those lines are noise.)
    set +e
    swift build --build-tests --sanitize="$s" --scratch-path "$dir" 2>&1 | grep -v "Cannot export local symbol"
    status=${PIPESTATUS[0]}
    set -e
    built=$(date +%s)
    if [ "$status" = 0 ]; then
        swift test --skip-build --sanitize="$s" --scratch-path "$dir" --filter "$filter" || status=$?
    fi
    end=$(date +%s)
    [ "$status" = 0 ] || failed=1
    summary+=("$(printf '%-8s build %4d s, tests %4d s: %s' "$s" $((built - start)) $((end - built)) \
        "$([ "$status" = 0 ] && echo passed || echo "FAILED (exit $status)")")")
done
echo "== sanitizer summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
