#!/usr/bin/env bash
# Fuzz the data readers with libFuzzer: configure a clang build in build-fuzz/ with
# -DMOONLAB_FUZZ=ON, build the targets, and run each for N seconds (default 30).
#   bash tests/fuzz/run.sh          30 s per target (as the fuzz_<target> CTest tests do)
#   bash tests/fuzz/run.sh 600      the long run: 10 minutes per target
#   bash tests/fuzz/run.sh 60 csv   only some targets
# New inputs libFuzzer finds go to build-fuzz/fuzz/<target>/corpus (never into the sources);
# a crash leaves its input in build-fuzz/fuzz/<target>/artifacts/ and stops that target (one
# inside libhdf5 is set apart in build-fuzz/fuzz/<target>/libhdf5/ instead; see in_libhdf5.sh). Copy
# such an input into tests/fuzz/regressions/<target>/ and fix the bug: the fuzz_replay_<target>
# tests of the ordinary builds replay it from then on.
# Needs: apt-get install clang libclang-rt-14-dev libomp-dev (plus what .ci/setup installs).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-30}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(idx csv text rfile h5data setting)
command -v clang >/dev/null || { echo "clang not found: apt-get install clang libclang-rt-14-dev libomp-dev" >&2; exit 1; }

CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DMOONLAB_FUZZ=ON \
  -DMOONLAB_STATIC_CHECKS=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >build-fuzz/fuzz-build.log 2>&1 ||
  { cat build-fuzz/fuzz-build.log >&2; exit 1; }

status=0
for t in "${targets[@]}"; do
  work=build-fuzz/fuzz/$t
  mkdir -p "$work/corpus" "$work/artifacts" "$work/libhdf5"
  echo "== fuzz_$t: $secs s"
  # A crash inside libhdf5 on a crafted file is the library's bug, not ours (tests/fuzz/
  # in_libhdf5.sh decides from the report): its input is moved to $work/libhdf5/ and fuzzing
  # goes on for the time left. Any other crash stops the target and fails the run.
  end=$((SECONDS + secs)) lib_crashes=0 units=0
  while left=$((end - SECONDS)); ((left > 0)); do
    if MOONLAB_FUZZ_LIBHDF5_DIR="$work/libhdf5" "build-fuzz/fuzz_$t" -max_total_time="$left" -timeout=20 -malloc_limit_mb=512 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" "tests/fuzz/corpus/$t" \
        "tests/fuzz/regressions/$t" >"$work/log" 2>&1; then
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
done
exit $status
