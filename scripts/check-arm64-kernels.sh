#!/usr/bin/env bash
# Checks the NEON (aarch64) paths of the C kernels, and the ARMv8 CRC-32 path, against their portable
# versions on an x86-64 machine: cross-compiles Sources/CMTZKernels/*.c and Sources/CMTZChecksum/*.c
# with Tests/arm64/kernel_check.c for aarch64 with clang and runs the result under qemu-aarch64 once
# per emulated CPU model (docs/ARM64.md). On an aarch64 machine it builds and runs natively instead.
#
# Installs what is missing (Debian, as root): qemu-user, gcc-aarch64-linux-gnu (the cross binutils,
# crt files and libgcc), libc6-dev-arm64-cross. Idempotent; exit status 1 if any check fails.
# Usage: scripts/check-arm64-kernels.sh
#   ARM64_CPUS="cortex-a53 max"  qemu CPU models to run (default: cortex-a53 cortex-a76 a64fx max;
#                                also known: cortex-a57 cortex-a72 neoverse-n1)
#   CLANG=/path/to/clang         compiler (default: the Swift toolchain's, else clang on PATH;
#                                on an aarch64 machine without clang, cc)
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
native=0
if [ "$(uname -m)" = aarch64 ]; then native=1; fi

# ---- packages --------------------------------------------------------------------------------
if [ "$native" = 0 ]; then
    missing=()
    command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null || missing+=(qemu)
    command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
    dpkg -s libc6-dev-arm64-cross >/dev/null 2>&1 || missing+=(libc6-dev-arm64-cross)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        # qemu-user ships qemu-aarch64 (Debian 12); releases without it have qemu-user-static.
        for i in "${!missing[@]}"; do
            if [ "${missing[$i]}" = qemu ]; then
                if apt-cache show qemu-user 2>/dev/null | grep -q '^Filename:'; then
                    missing[$i]=qemu-user
                else
                    missing[$i]=qemu-user-static
                fi
            fi
        done
        apt-get install -y --no-install-recommends "${missing[@]}"
        echo "installed in $((SECONDS - start)) s"
    fi
fi

# ---- build -----------------------------------------------------------------------------------
if [ -z "${CLANG:-}" ]; then
    if [ -x /opt/swift/usr/bin/clang ]; then CLANG=/opt/swift/usr/bin/clang; else CLANG=clang; fi
    # A board without clang: its own C compiler will do (no cross-compiling there).
    if [ "$native" = 1 ] && ! command -v "$CLANG" >/dev/null; then CLANG=cc; fi
fi
out=.build-arm64
mkdir -p "$out"
flags=(-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -ISources/CMTZKernels/include -ISources/CMTZKernels
       -ISources/CMTZChecksum/include)
# clang finds Debian's cross layout by itself (/usr/aarch64-linux-gnu for headers and libc,
# /usr/lib/gcc-cross/aarch64-linux-gnu/* for crt files and libgcc, aarch64-linux-gnu-ld to link).
if [ "$native" = 0 ]; then flags=(--target=aarch64-linux-gnu "${flags[@]}"); fi
build_start=$SECONDS
"$CLANG" "${flags[@]}" Sources/CMTZKernels/*.c Sources/CMTZChecksum/*.c Tests/arm64/kernel_check.c \
    -o "$out/kernel_check" -lm -lpthread
echo "built $out/kernel_check with $("$CLANG" --version | head -n 1) in $((SECONDS - build_start)) s"

# ---- run -------------------------------------------------------------------------------------
# CPU models and the features each must report (dot product = asimddp, fp16 = asimdhp), so a run
# also proves that qemu emulated the model asked for. Only NEON (Advanced SIMD) paths exist in the
# kernels today. The default models: an ARMv8.0 core without the optional features (cortex-a53),
# an ARMv8.2 core with both (cortex-a76), fp16 and SVE without dot product (a64fx), and everything
# qemu has (max). cortex-a57/a72 and neoverse-n1 repeat a53's and a76's features.
declare -A dotprod=([cortex-a53]=0 [cortex-a57]=0 [cortex-a72]=0 [cortex-a76]=1 [neoverse-n1]=1 [a64fx]=0 [max]=1)
declare -A fp16=([cortex-a53]=0 [cortex-a57]=0 [cortex-a72]=0 [cortex-a76]=1 [neoverse-n1]=1 [a64fx]=1 [max]=1)
cpus=${ARM64_CPUS:-cortex-a53 cortex-a76 a64fx max}
if command -v qemu-aarch64 >/dev/null; then qemu=qemu-aarch64; else qemu=qemu-aarch64-static; fi

total_passed=0
total_failed=0
show_log=1 # the first run shows its whole output (features, selected ISA, cases per group)
# Runs the driver ($1: a label; the rest: the command) and adds its "N passed, N failed" line to the
# totals; a run that dies before printing that line counts as one failure.
run() {
    local label=$1 log status=0 line passed failed
    shift
    log=$(mktemp)
    "$@" >"$log" 2>&1 || status=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
    if [ -z "$line" ] || [ "$status" != 0 ] || [ "$show_log" = 1 ]; then
        grep -vE '^[0-9]+ passed, [0-9]+ failed$' "$log" || true
    fi
    rm -f "$log"
    show_log=0
    [ -n "$line" ] || line="0 passed, 1 failed"
    read -r passed _ failed _ <<<"${line//,/}"
    if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi # died after its summary
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    echo "$label: $line (exit status $status)"
}

if [ "$native" = 1 ]; then
    run native "$out/kernel_check"
    MTZ_ISA=scalar run "native, MTZ_ISA=scalar" "$out/kernel_check"
else
    for cpu in $cpus; do
        [ -n "${dotprod[$cpu]:-}" ] || { echo "unknown CPU model $cpu (known: ${!dotprod[*]})"; exit 2; }
        run "$cpu" "$qemu" -L /usr/aarch64-linux-gnu -cpu "$cpu" "$out/kernel_check" \
            --expect-dotprod="${dotprod[$cpu]}" --expect-fp16="${fp16[$cpu]}"
    done
    # The MTZ_ISA cap must also work on ARM (the cases pass their ISA explicitly, so they still run).
    MTZ_ISA=scalar run "cortex-a53, MTZ_ISA=scalar" "$qemu" -L /usr/aarch64-linux-gnu -cpu cortex-a53 "$out/kernel_check"
fi

echo "took $((SECONDS - start)) s"
echo "arm64-kernels: $total_passed passed, $total_failed failed"
[ "$total_failed" = 0 ]
