#!/usr/bin/env bash
# release-hierarchies.sh: after ../shared/tools/peer-bench.sh or oci-validate.sh on a hybrid
# cgroup host, give back to cgroup2 each controller left in a v1 hierarchy that nothing mounts
# any more (see release_hidden_hierarchies in bench-lib.sh). `make bench` and `make
# conformance` run it. Root only. Left hidden, hugetlb is in no hierarchy anyone can read: a
# containerd shim's metrics of a container then fail ("no metrics received").
set -euo pipefail
# shellcheck source=tests/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bench_name=release-hierarchies
[ "$(id -u)" = 0 ] || { echo "$bench_name: must run as root" >&2; exit 2; }
release_hidden_hierarchies
