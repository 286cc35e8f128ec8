#!/bin/sh
# Installs what is needed, builds, and runs every test: the unit tests and, as
# root, the network-namespace integration tests.
#   SYNGUARD_WERROR=ON  treat warnings as errors
#   BUILD_DIR=...       build directory (default: build)
#   CTEST_ARGS=...      extra ctest arguments, e.g. "-L unit"
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}

if [ "$(id -u)" = 0 ]; then
	"$top/tests/deps.sh"
else
	echo "run-all: not root: skipping package installation; netns tests will be skipped" >&2
fi
cmake -S "$top" -B "$build" -DSYNGUARD_WERROR="${SYNGUARD_WERROR:-OFF}" \
	${CMAKE_BUILD_TYPE:+-DCMAKE_BUILD_TYPE=$CMAKE_BUILD_TYPE} >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
# shellcheck disable=SC2086
ctest --output-on-failure ${CTEST_ARGS:-}
