#!/usr/bin/env bash
# Runs every test: the suite (unit, integration, end to end) in a normal build, the same suite
# under AddressSanitizer + UndefinedBehaviorSanitizer, then the chart and alert-rule tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
export KC_REQUIRE_TOOLS=1  # installed just above: tests that need a tool fail without it
start=$SECONDS
failed=0

echo "== formatting (clang-format with .clang-format)"
sources() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then git ls-files '*.cc' '*.h'
  else find bench cmd common controller node policies respond test webhook -name '*.cc' -o -name '*.h'; fi
}
if ! sources | xargs clang-format --dry-run --Werror; then
  echo "formatting differs: run  git ls-files '*.cc' '*.h' | xargs clang-format -i" >&2
  failed=1
fi

echo "== build and test (RelWithDebInfo)"
# -O2 as RelWithDebInfo, without its debug info: a third of the compile time and most of the
# link time of the test executables; the ASan build below keeps line tables (-g1) for its reports.
scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -DNDEBUG"
ctest --test-dir build --output-on-failure -j2 || failed=1

echo "== build and test under ASan+UBSan"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DKC_ENABLE_SANITIZERS=ON \
  -DKC_BUILD_BENCHMARKS=OFF -DCMAKE_CXX_FLAGS_DEBUG=-g1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS=suppressions="$PWD/test/lsan.supp" \
  ctest --test-dir build-asan --output-on-failure -j2 || failed=1

if [ -x test/charts/chart_test.sh ]; then
  echo "== chart, manifests and alert rules"
  test/charts/chart_test.sh || failed=1
fi

echo "== end to end: webhook, audit, real Prometheus and Alertmanager"
test/e2e/e2e_test.sh build/cmd/kube-customs || failed=1

echo "== all tests finished in $((SECONDS - start)) s: $([ $failed -eq 0 ] && echo PASSED || echo FAILED)"
exit $failed
