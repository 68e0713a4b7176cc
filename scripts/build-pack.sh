#!/usr/bin/env bash
# Build `pack` and the CNB `lifecycle` + `launcher` from their Go modules (through the Go module proxy)
# and lay out a lifecycle blob that a builder.toml `[lifecycle] uri = "..."` can point at.
#
# Outputs (CACHE = ${HERA_BUILD_CI_CACHE:-/var/cache/hera-build-ci}):
#   CACHE/bin/pack, CACHE/bin/lifecycle, CACHE/bin/launcher
#   CACHE/lifecycle/v<LV>/                       lifecycle blob directory:
#         lifecycle.toml
#         lifecycle/{lifecycle,launcher,detector,analyzer,restorer,builder,exporter,rebaser,creator,extender}
#   CACHE/lifecycle/lifecycle-v<LV>+linux.x86-64.tgz   the same as a tarball (made by lifecycle's own packager)
#   /usr/local/bin/pack -> CACHE/bin/pack          (unless --no-link)
# Skips everything that is already built with the right version.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"

usage() {
  cat <<USAGE
Usage: $0 [--force] [--no-link] [--print-env] [-h|--help]

Builds pack (\$HERA_BUILD_PACK_VERSION, default ${DEFAULT_PACK_VERSION}) and the CNB lifecycle + launcher
(\$HERA_BUILD_LIFECYCLE_VERSION, default ${DEFAULT_LIFECYCLE_VERSION}) from Go modules into
\${HERA_BUILD_CI_CACHE:-/var/cache/hera-build-ci}.

  --force      rebuild even if the cached binaries report the right version
  --no-link    do not symlink pack into /usr/local/bin
  --print-env  only print the export lines for an existing build (no building)
USAGE
}

# pack v0.40.5 / v0.40.4 are refused by the Go module proxy reachable here ("This module version is not
# available."); v0.40.3 is served and, like every pack >= 0.40.2, accepts Docker API 1.41 (Debian's engine 20.10).
DEFAULT_PACK_VERSION=0.40.3
DEFAULT_LIFECYCLE_VERSION=0.21.17
# lifecycle v0.21.15..v0.21.17 require github.com/osscontainertools/kaniko v1.28.x, which the Go module proxy here
# refuses (403 "This module version is not available"); v1.27.5 (what lifecycle v0.21.9..v0.21.14 use) is served
# and compiles. kaniko is only used by the `extender` phase (Dockerfile image extensions), which hera-build does not
# use. Space-separated `old=new@version` go.mod replacements applied through a private -modfile copy (the module
# cache stays untouched); set HERA_BUILD_LIFECYCLE_REPLACE="" to build lifecycle with its own go.mod.
DEFAULT_LIFECYCLE_REPLACE="github.com/osscontainertools/kaniko=github.com/osscontainertools/kaniko@v1.27.5"

FORCE=0; LINK=1; PRINT_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE=1 ;;
    --no-link) LINK=0 ;;
    --print-env) PRINT_ONLY=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

PACK_VERSION="${HERA_BUILD_PACK_VERSION:-$DEFAULT_PACK_VERSION}"; PACK_VERSION="${PACK_VERSION#v}"
LIFECYCLE_VERSION="${HERA_BUILD_LIFECYCLE_VERSION:-$DEFAULT_LIFECYCLE_VERSION}"; LIFECYCLE_VERSION="${LIFECYCLE_VERSION#v}"
LIFECYCLE_REPLACE="${HERA_BUILD_LIFECYCLE_REPLACE-$DEFAULT_LIFECYCLE_REPLACE}"
CACHE="$HERA_BUILD_CI_CACHE"
BIN="$CACHE/bin"
LC_ROOT="$CACHE/lifecycle"
LC_DIR="$LC_ROOT/v$LIFECYCLE_VERSION"
LC_TGZ="$LC_ROOT/lifecycle-v$LIFECYCLE_VERSION+linux.x86-64.tgz"

print_env() {
  echo "export HERA_BUILD_TEST_PACK=$BIN/pack"
  echo "export HERA_BUILD_TEST_LIFECYCLE_DIR=$LC_DIR"
}
if [ "$PRINT_ONLY" = 1 ]; then print_env; exit 0; fi

hb_go_require_amd64

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-buildvcs=false"
mkdir -p "$BIN" "$LC_ROOT"

# Bound every go invocation: a stuck download must not hang CI.
GO_TIMEOUT="${HERA_BUILD_GO_TIMEOUT:-1500}"
gorun() { timeout --kill-after=30 "$GO_TIMEOUT" go "$@"; }

# ---------- lifecycle + launcher ----------
# lifecycle_modfile: sets LC_MODARGS to the go flags that apply $LIFECYCLE_REPLACE (needs $LC_SRC).
LC_MODARGS=()
lifecycle_modfile() {
  LC_MODARGS=()
  [ -n "$LIFECYCLE_REPLACE" ] || return 0
  local mf="$CACHE/go/lifecycle-v$LIFECYCLE_VERSION.mod" r
  mkdir -p "$CACHE/go"
  cp -f "$LC_SRC/go.mod" "$mf"; cp -f "$LC_SRC/go.sum" "${mf%.mod}.sum"; chmod u+w "$mf" "${mf%.mod}.sum"
  for r in $LIFECYCLE_REPLACE; do
    ( cd "$LC_SRC" && go mod edit -modfile="$mf" -replace "$r" )
  done
  hb_log "lifecycle go.mod replacements: $LIFECYCLE_REPLACE"
  LC_MODARGS=(-modfile="$mf" -mod=mod)
}

lifecycle_ok() {
  [ -x "$BIN/lifecycle" ] && [ -x "$BIN/launcher" ] || return 1
  # `lifecycle -version` prints e.g. "0.21.17"
  [ "$("$BIN/lifecycle" -version 2>/dev/null | head -n1)" = "$LIFECYCLE_VERSION" ]
}

if [ "$FORCE" = 0 ] && lifecycle_ok; then
  hb_log "lifecycle $LIFECYCLE_VERSION already built in $BIN"
else
  hb_log "building lifecycle + launcher v$LIFECYCLE_VERSION ..."
  LC_SRC="$(hb_go_moddir "github.com/buildpacks/lifecycle@v$LIFECYCLE_VERSION")" || hb_die "go mod download lifecycle failed"
  lifecycle_modfile
  LDF="-s -w -X 'github.com/buildpacks/lifecycle/cmd.SCMRepository=github.com/buildpacks/lifecycle' -X 'github.com/buildpacks/lifecycle/cmd.Version=$LIFECYCLE_VERSION'"
  ( cd "$LC_SRC" && gorun build "${LC_MODARGS[@]}" -trimpath -ldflags "$LDF" -o "$BIN/lifecycle.tmp" ./cmd/lifecycle \
      && gorun build "${LC_MODARGS[@]}" -trimpath -ldflags "$LDF" -o "$BIN/launcher.tmp" ./cmd/launcher )
  mv -f "$BIN/lifecycle.tmp" "$BIN/lifecycle"
  mv -f "$BIN/launcher.tmp" "$BIN/launcher"
  rm -rf "$LC_DIR" "$LC_TGZ"
  lifecycle_ok || { echo "built lifecycle does not report version $LIFECYCLE_VERSION" >&2; exit 1; }
fi

# ---------- lifecycle blob (directory + tgz) ----------
if [ "$FORCE" = 0 ] && [ -f "$LC_DIR/lifecycle.toml" ] && [ -x "$LC_DIR/lifecycle/launcher" ] && [ -s "$LC_TGZ" ]; then
  hb_log "lifecycle blob already at $LC_DIR"
else
  hb_log "making lifecycle blob $LC_DIR and $LC_TGZ ..."
  LC_SRC="$(hb_go_moddir "github.com/buildpacks/lifecycle@v$LIFECYCLE_VERSION")" || hb_die "go mod download lifecycle failed"
  STAGE="$(mktemp -d)"; trap 'rm -rf "$STAGE"' EXIT
  mkdir -p "$STAGE/lifecycle"
  cp "$BIN/lifecycle" "$BIN/launcher" "$STAGE/lifecycle/"
  for p in detector analyzer restorer builder exporter rebaser creator extender; do
    ln -s lifecycle "$STAGE/lifecycle/$p"
  done
  # Lifecycle's own packager fills lifecycle.toml (supported APIs, version) and writes the .tgz.
  lifecycle_modfile
  ( cd "$LC_SRC" && gorun run "${LC_MODARGS[@]}" ./tools/packager \
      -inputDir "$STAGE/lifecycle" -descriptorPath "$LC_SRC/lifecycle.toml" \
      -version "$LIFECYCLE_VERSION" -archivePath "$STAGE/lifecycle.tgz" >&2 )
  rm -rf "$LC_DIR.tmp"; mkdir -p "$LC_DIR.tmp"
  tar -C "$LC_DIR.tmp" -xzf "$STAGE/lifecycle.tgz"
  grep -q "version = \"$LIFECYCLE_VERSION\"" "$LC_DIR.tmp/lifecycle.toml"
  rm -rf "$LC_DIR"; mv "$LC_DIR.tmp" "$LC_DIR"
  mv -f "$STAGE/lifecycle.tgz" "$LC_TGZ"
  rm -rf "$STAGE"; trap - EXIT
fi

# ---------- pack ----------
pack_ok() {
  [ -x "$BIN/pack" ] || return 1
  [ "$("$BIN/pack" --version 2>/dev/null | head -n1 | awk '{print $1}')" = "$PACK_VERSION" ]
}

if [ "$FORCE" = 0 ] && pack_ok; then
  hb_log "pack $PACK_VERSION already built in $BIN"
else
  hb_log "building pack v$PACK_VERSION (several minutes on 2 cores) ..."
  # pack's go.mod has a `replace` directive, so `go install pack@v` is refused: build inside the module dir.
  PACK_SRC="$(hb_go_moddir "github.com/buildpacks/pack@v$PACK_VERSION")" || hb_die "go mod download pack failed"
  ( cd "$PACK_SRC" && gorun build -trimpath \
      -ldflags "-s -w -X 'github.com/buildpacks/pack/pkg/client.Version=$PACK_VERSION'" \
      -o "$BIN/pack.tmp" . )
  mv -f "$BIN/pack.tmp" "$BIN/pack"
  pack_ok || { echo "built pack does not report version $PACK_VERSION" >&2; "$BIN/pack" --version >&2 || true; exit 1; }
fi

if [ "$LINK" = 1 ]; then
  ln -sfn "$BIN/pack" /usr/local/bin/pack
fi

hb_log "pack $("$BIN/pack" --version | head -n1), lifecycle $("$BIN/lifecycle" -version | head -n1)"
print_env
