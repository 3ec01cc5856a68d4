#!/usr/bin/env bash
# `bazel test //...` offline with Debian's Bazel 4.2.3 (bazel-bootstrap): the C99 core as a cc_test
# and the Python tests as py_test. The three repositories Bazel would download are overridden
# with CI-only stand-ins (ci/bazel/) on the command line, so nothing users consume refers to them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
command -v bazel >/dev/null || { echo "bazel not found: scripts/setup.sh installs bazel-bootstrap" >&2; exit 1; }
bazel test //... \
  --override_repository=rules_cc="$root/ci/bazel/rules_cc" \
  --override_repository=rules_java=/usr/share/bazel/rules/java \
  --override_repository=remote_coverage_tools="$root/ci/bazel/remote_coverage_tools" \
  --spawn_strategy=processwrapper-sandbox --test_output=errors --noshow_progress "$@"
