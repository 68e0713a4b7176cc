#!/usr/bin/env bash
# The main job on the bundled example, on a fresh machine or an old one: set up what is missing (scripts/setup.sh,
# idempotent), then release the provider example data-utils and the consumer example ml-pipeline as a release
# pipeline would: build the runner image, check it, push it to 127.0.0.1:5000, write the digest-pinned
# templates (dist/argo/) and the release manifest (dist/release-manifest.json) of each. Run it again: nothing is
# rebuilt. Extra arguments go to both `hera-build release` runs (e.g. --backend docker, --json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
for example in data-utils ml-pipeline; do
  echo "==> hera-build release --push in examples/$example" >&2
  (cd "examples/$example" && ../../.venv/bin/hera-build release --push --out dist/argo "$@")
done
echo "released: examples/*/dist/argo and examples/*/dist/release-manifest.json" >&2
