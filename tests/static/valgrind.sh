#!/usr/bin/env bash
# Every C test under valgrind memcheck; any error or definite/indirect leak fails.
#   bash tests/static/valgrind.sh          (builds build-valgrind/ first; see README for the time)
# Valgrind 3.19 does not decode AVX-512, so this build is not -march=native and BLIS is asked
# for its Haswell (AVX2) kernels (architecture id 3 in BLIS 0.9).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
command -v valgrind >/dev/null ||
  { echo "valgrind not found: apt-get install valgrind (or bash .ci/setup valgrind)" >&2; exit 1; }
cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=Release -DMOONLAB_NATIVE=OFF \
  -DMOONLAB_STATIC_CHECKS=OFF >/dev/null
cmake --build build-valgrind -j"$(nproc)" >/dev/null
status=0
for t in build-valgrind/test_*; do
  [ -x "$t" ] || continue
  if BLIS_ARCH_TYPE=3 valgrind -q --error-exitcode=9 --leak-check=full \
       --errors-for-leak-kinds=definite,indirect "$t" >"$t.valgrind.log" 2>&1; then
    echo "valgrind: $(basename "$t"): clean"
  else
    echo "valgrind: $(basename "$t"): FAILED (log: $t.valgrind.log)"
    status=1
  fi
done
# and the moonlab command end to end (a short poly_fit run). GOMP_SPINCOUNT is set as moonlab
# would set it: otherwise moonlab starts itself again through /proc/self/exe to set it, which
# under valgrind is valgrind's tool, not moonlab.
if BLIS_ARCH_TYPE=3 GOMP_SPINCOUNT=10000 valgrind -q --error-exitcode=9 --leak-check=full \
     --errors-for-leak-kinds=definite,indirect build-valgrind/moonlab run experiments/poly_fit.lua \
     --out build-valgrind/poly_fit.h5 --set epochs=5 >build-valgrind/moonlab.valgrind.log 2>&1; then
  echo "valgrind: moonlab run experiments/poly_fit.lua: clean"
else
  echo "valgrind: moonlab run: FAILED (log: build-valgrind/moonlab.valgrind.log)"
  status=1
fi
exit $status
