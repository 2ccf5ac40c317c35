#!/usr/bin/env bash
# Checks that `mtz eval` on every shipped model reproduces the test error its model card states
# (Models/expected-errors.tsv: file, task, error in %), within ±0.05 percentage points.
# Needs the datasets (scripts/fetch-datasets.sh). Exit status 1 on any mismatch.
# Usage: scripts/check-models.sh   (MTZ_BIN=path/to/mtz to skip the build)
set -euo pipefail
cd "$(dirname "$0")/.."
# MTZ_BIN: use another mtz binary instead of building one.
if [ -n "${MTZ_BIN:-}" ]; then
  mtz=$MTZ_BIN
else
  swift build -c release --product mtz >/dev/null
  mtz=.build/release/mtz
fi
status=0
passed=0
failed=0
while IFS=$'\t' read -r file task expected; do
  [[ -z "$file" || "$file" == \#* ]] && continue
  line=$($mtz eval "Models/$file" --tasks "$task")
  measured=$(printf '%s\n' "$line" | awk '{for (i = 1; i <= NF; i++) if ($(i+1) == "%" && $(i+2) == "error") { print $i; exit }}')
  if awk -v m="$measured" -v e="$expected" 'BEGIN { d = m - e; if (d < 0) d = -d; exit !(d <= 0.05) }'; then
    echo "ok    $file $task: $measured % (card: $expected %)"
    passed=$((passed + 1))
  else
    echo "FAIL  $file $task: $measured % (card: $expected %)"
    failed=$((failed + 1))
    status=1
  fi
done < Models/expected-errors.tsv
echo "models: $passed passed, $failed failed"
exit $status
