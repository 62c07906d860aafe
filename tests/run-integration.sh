#!/bin/sh
# Integration tests: pytest (Debian's python3) driving real binaries.
# SLUICE_BIN selects the binaries (default: bin/). Extra args go to pytest.
set -u
PY=/usr/bin/python3
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
$PY -m pytest -q -p no:cacheprovider tests/integration "$@"
rc=$?
# pytest exit 5 = no tests collected; that is a failure for us.
exit $rc
