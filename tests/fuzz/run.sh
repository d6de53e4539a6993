#!/usr/bin/env bash
# Fuzz the data readers with libFuzzer: configure a clang build in build-fuzz/ with
# -DMOONLAB_FUZZ=ON, build the targets, and run each for N seconds (default 30).
#   bash tests/fuzz/run.sh          30 s per target (as the fuzz_<target> CTest tests do: both
#                                   run each target through tests/fuzz/fuzz_one.sh)
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
  bash tests/fuzz/fuzz_one.sh build-fuzz "$t" "$secs" || status=1
done
exit $status
