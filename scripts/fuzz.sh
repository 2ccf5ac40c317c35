#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (AddressSanitizer + coverage) and runs each for a while.
#
#   scripts/fuzz.sh [--seconds N] [--out DIR] [--no-build] [target...]
#
# Targets: FuzzModelFile FuzzONNX FuzzPNG FuzzJPEG (default: all). Each runs N seconds (default 60)
# from its seed corpus Fuzz/Corpus/<target> plus whatever earlier runs added to DIR/<target>/corpus
# (DIR defaults to .build-fuzz/out, outside git). Crashes, leaks, timeouts and out-of-memory inputs
# are written to DIR/<target>/findings/. Exits non-zero if any target found something.
#
# Long run (docs/ROBUSTNESS.md): scripts/fuzz.sh --seconds 1800
# Reproduce a finding: .build-fuzz/release/<target> DIR/<target>/findings/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
out=.build-fuzz/out
build=1
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ "${#targets[@]}" -gt 0 ] || targets=(FuzzModelFile FuzzONNX FuzzPNG FuzzJPEG)
case "$seconds" in ''|*[!0-9]*) echo "fuzz.sh: --seconds needs a whole number" >&2; exit 2 ;; esac

if [ "$build" = 1 ]; then
    # -parse-as-library: the targets have no top-level code; libFuzzer supplies main().
    # -Xcc ...: coverage and ASan for the C shims and kernels too, not only the Swift code.
    # (ld.gold warns about every ASan check symbol; those lines are noise.)
    set +e
    swift build -c release --package-path Fuzz --scratch-path .build-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
        -Xcc -fsanitize=fuzzer-no-link,address 2>&1 | grep -v "Cannot export local symbol"
    status=${PIPESTATUS[0]}
    set -e
    [ "$status" = 0 ] || { echo "fuzz.sh: the build failed" >&2; exit 2; }
fi
bin=.build-fuzz/release

summary=()
failed=0
for t in "${targets[@]}"; do
    [ -x "$bin/$t" ] || { echo "fuzz.sh: $bin/$t is missing (build failed?)" >&2; exit 2; }
    [ -d "Fuzz/Corpus/$t" ] || { echo "fuzz.sh: no seed corpus Fuzz/Corpus/$t" >&2; exit 2; }
    mkdir -p "$out/$t/corpus" "$out/$t/findings"
    log="$out/$t/last-run.log"
    echo "== $t: $seconds s (log: $log)"
    status=0
    # New inputs go to the first corpus directory; the seeds in git stay untouched.
    # -timeout: one input taking 10 s is a finding; -rss_limit_mb/-malloc_limit_mb: so is needing
    # 2 GiB, or a single allocation that large.
    touch "$out/$t/.started"
    "$bin/$t" "$out/$t/corpus" "Fuzz/Corpus/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/$t/findings/" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    found=$(find "$out/$t/findings" -type f -newer "$out/$t/.started" | wc -l)
    if [ "$status" != 0 ] || [ "$found" != 0 ]; then
        failed=1
        verdict="FINDING (exit $status, $found new file(s) in $out/$t/findings)"
        grep -m3 -E "ERROR: |Fatal error|SUMMARY" "$log" || true
    else
        verdict="ok"
    fi
    summary+=("$(printf '%-14s %6s s %12s runs  %s' "$t" "$seconds" "${runs:-?}" "$verdict")")
done

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
