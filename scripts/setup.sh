#!/usr/bin/env bash
# The whole set-up on a fresh machine (Debian bookworm, root): the services the examples and tests use
# (scripts/dev-up.sh: Docker engine, registry on 127.0.0.1:5000, base image, pack), then .venv with hera-build,
# its test tools and the two example packages installed. Re-runnable; a second run takes seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/dev-up.sh --quiet > .env.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e '.[test,docs]' -e examples/data-utils -e examples/ml-pipeline
# The test cluster's artifact repository is moto's S3 server from the test extra just installed: on a fresh
# machine dev-up.sh's `cluster.sh up` ran before .venv had it; this one starts it (a no-op when it is running).
if [ "${HERA_BUILD_NO_CLUSTER:-0}" != 1 ]; then scripts/cluster.sh up > /dev/null; fi
echo "ready: .venv has hera-build $(.venv/bin/hera-build --version | cut -d' ' -f2); test environment in .env.sh" >&2
