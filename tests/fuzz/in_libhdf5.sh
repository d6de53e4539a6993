#!/usr/bin/env bash
# Exit 0 if the crash reported in a libFuzzer log (the first sanitizer report, out-of-memory
# or timeout) happened inside libhdf5, 1 otherwise; prints the deciding frame.
#   bash tests/fuzz/in_libhdf5.sh build-fuzz/fuzz/rfile/log
# The frames of the sanitizer runtime, libFuzzer, the allocator and libc (which the library
# calls into) are skipped; the first frame left decides. Debian's libhdf5 is not built with
# sanitizers or coverage and has known memory bugs on crafted files (README, "Fuzzing"): such
# a crash is the library's, and the fuzz run goes on (tests/fuzz/run.sh) with the input kept
# apart. A crash whose first frame is ours is a bug to fix.
set -euo pipefail
log=${1:?usage: in_libhdf5.sh LOG}
frame=$(awk '
  /ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|libFuzzer)|runtime error:|deadly signal/ { on = 1 }
  on && /^ *#[0-9]+ / {
    if ($0 ~ /__asan|__interceptor_|__sanitizer|__lsan|__ubsan|__interception|fuzzer::|in (malloc|calloc|realloc|free|memcpy|memmove|memset|strlen|strdup) |_start /) next
    # libc, by library name or by the source path its debug information gives
    if ($0 ~ /libc\.so|libc-start| (nptl|stdlib|signal|string|csu|malloc|libio|stdio-common|posix|misc)\/|sysdeps\//) next
    print; exit
  }' "$log")
if [ -z "$frame" ]; then
  echo "in_libhdf5: no stack frame found in $log" >&2
  exit 1
fi
echo "$frame"
case "$frame" in
  *libhdf5*) exit 0 ;;
  *) exit 1 ;;
esac
