#!/usr/bin/env bash
# The whole set-up on a fresh machine (Debian bookworm, root): the services the examples and tests use
# (scripts/dev-up.sh: Docker engine, registry on 127.0.0.1:5000, base image, pack), then .venv with hera-build,
# its test tools and the two example packages installed. Re-runnable; a second run takes seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/dev-up.sh --quiet > .env.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e '.[test,docs]' -e examples/data-utils -e examples/ml-pipeline
echo "ready: .venv has hera-build $(.venv/bin/hera-build --version | cut -d' ' -f2); test environment in .env.sh" >&2
