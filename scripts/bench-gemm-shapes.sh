#!/usr/bin/env bash
# Best AVX-512 GFLOP/s of `mtz bench --gemm MxNxK` for the GEMM shapes of the residual CNNs'
# training (16 images per batch), for one mtz binary or two side by side (alternating, best of
# ROUNDS runs each), with the ratio. The table in docs/BENCHMARKS.md ("Narrow layers") came from it.
#
#   scripts/bench-gemm-shapes.sh BEFORE_MTZ [AFTER_MTZ]     (ROUNDS=2 by default)
#   ISA=avx2 scripts/bench-gemm-shapes.sh ...                 (one ISA's figures; default: the best one)
set -euo pipefail
before=${1:?usage: $0 BEFORE_MTZ [AFTER_MTZ]}
after=${2:-}
rounds=${ROUNDS:-2}
shapes="12544x16x144 12544x14x144 12544x8x144 12544x2x144 16x144x12544 14x144x12544 8x144x12544 2x144x12544
3136x32x288 3136x28x288 3136x16x288 3136x4x288 32x288x3136 28x288x3136 16x288x3136 4x288x3136
784x64x576 784x56x576 784x32x576 784x8x576 1000x20x25 1000x50x500"
best() { # binary shape -> best GFLOP/s of one run on $ISA (default: AVX-512, else AVX2, NEON, scalar)
  "$1" bench --gemm "$2" --json | ISA=${ISA:-} python3 -c '
import json, os, sys
rows = {r["isa"]: r["bestGflops"] for r in json.load(sys.stdin)}
isa = os.environ["ISA"] or next(i for i in ("avx512", "avx2", "neon", "scalar") if i in rows)
print(rows[isa])'
}
printf '%-14s %9s %9s %7s\n' shape before after ratio
for s in $shapes; do
  b=0 a=0
  for _ in $(seq "$rounds"); do
    b=$(python3 -c "print(max($b, $(best "$before" "$s")))")
    if [ -n "$after" ]; then a=$(python3 -c "print(max($a, $(best "$after" "$s")))"); fi
  done
  if [ -n "$after" ]; then
    python3 -c "print('%-14s %9.1f %9.1f %7.2f' % ('$s', $b, $a, $a / $b))"
  else
    python3 -c "print('%-14s %9.1f' % ('$s', $b))"
  fi
done
