#!/usr/bin/env bash
# The tests, on a fresh machine or an old one: set up what is missing (scripts/setup.sh, idempotent: the Docker
# engine, the registry, the base image, pack and its builder, the argo CLI, the test cluster, .venv), then run
# the whole suite. Extra arguments go to pytest (e.g. tests/unit -q, -m "not slow"). .ci/run ends with this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
