#!/usr/bin/env bash
# Runs one libFuzzer target of a -DMOONLAB_FUZZ=ON build for SECS seconds: the one code path of
# both tests/fuzz/run.sh and the fuzz_<target> CTest tests.
#   bash tests/fuzz/fuzz_one.sh BUILD_DIR TARGET SECS
# New inputs go to BUILD_DIR/fuzz/TARGET/corpus (never into the sources); a crash leaves its
# input in BUILD_DIR/fuzz/TARGET/artifacts/ and fails. A crash inside libhdf5 on a crafted file
# is the library's bug, not ours (tests/fuzz/in_libhdf5.sh decides from the report): its input
# is moved to BUILD_DIR/fuzz/TARGET/libhdf5/ and fuzzing goes on for the time left.
set -euo pipefail
build=${1:?usage: fuzz_one.sh BUILD_DIR TARGET SECS}
t=${2:?usage: fuzz_one.sh BUILD_DIR TARGET SECS}
secs=${3:?usage: fuzz_one.sh BUILD_DIR TARGET SECS}
build=$(realpath "$build")
cd "$(dirname "$0")/../.."
work=$build/fuzz/$t
mkdir -p "$work/corpus" "$work/artifacts" "$work/libhdf5"
echo "== fuzz_$t: $secs s"
end=$((SECONDS + secs)) lib_crashes=0 units=0 status=0
while left=$((end - SECONDS)); ((left > 0)); do
  if MOONLAB_FUZZ_LIBHDF5_DIR="$work/libhdf5" "$build/fuzz_$t" -max_total_time="$left" -timeout=20 \
      -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
      "$work/corpus" "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t" >"$work/log" 2>&1; then
    ok=1
  else
    ok=0
  fi
  units=$((units + $(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1 | grep . || echo 0)))
  ((ok == 0)) || break
  if frame=$(bash tests/fuzz/in_libhdf5.sh "$work/log"); then
    lib_crashes=$((lib_crashes + 1))
    echo "fuzz_$t: crash inside libhdf5 (kept in $work/libhdf5/, not ours):$frame"
    mv "$work"/artifacts/* "$work/libhdf5/" 2>/dev/null || true
    cp "$work/log" "$work/libhdf5/log.$lib_crashes"
    continue
  fi
  status=1
  echo "fuzz_$t: FAILED (log: $work/log; inputs: $work/artifacts/)"
  grep -E '^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' "$work/log" || tail -20 "$work/log"
  break
done
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$work/log" || true
grep -E '^#[0-9]+.*(DONE|cov:)' "$work/log" | tail -1 || true
grep -E '^fuzz_h5data: [0-9]+ inputs crashed inside libhdf5' "$work/log" || true
((lib_crashes == 0)) || echo "fuzz_$t: $units executions in all, $lib_crashes crash(es) inside libhdf5 (the stats above are of the last stretch)"
exit $status
