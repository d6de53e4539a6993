"""What every interop test shares: where moonlab is, a non-fatal check, the closing report."""
import os
import sys

ROOT = os.environ.get("MOONLAB_ROOT", ".")
BIN = os.environ.get("MOONLAB_BIN", os.path.join(ROOT, "build", "moonlab"))

_failures = []
_checks = [0]


def check(cond, what):
    """Record one assertion; a failure is printed and the test goes on."""
    _checks[0] += 1
    if not cond:
        _failures.append(what)
        print("FAILED:", what, file=sys.stderr)


def report():
    """Print 'interop: N passed, N failed' and exit non-zero on any failure."""
    print("interop: %d passed, %d failed" % (_checks[0] - len(_failures), len(_failures)))
    sys.exit(1 if _failures else 0)
