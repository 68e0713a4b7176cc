# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Source it; do not run it.

HERA_BUILD_CI_CACHE="${HERA_BUILD_CI_CACHE:-/var/cache/hera-build-ci}"
# The base image every test builds on (made by scripts/base-image.sh without any pull).
HERA_BUILD_BASE_IMAGE="${HERA_BUILD_BASE_IMAGE:-hera-build-base:bookworm-python3}"
HERA_BUILD_REGISTRY="${HERA_BUILD_REGISTRY:-127.0.0.1:5000}"
# Debian's docker.io is engine 20.10 (API 1.41). The docker CLI 28.x in /usr/local/bin, docker-py 7.x
# (docker.from_env()) and pack 0.40.3 all negotiate down to 1.41 by themselves: DOCKER_API_VERSION is not
# needed (setting it to 1.41 also works).

hb_log() { echo "[$(basename "$0" .sh)] $*" >&2; }
hb_die() { echo "[$(basename "$0" .sh)] ERROR: $*" >&2; exit 1; }

# hb_wait SECONDS CMD...: run CMD every second until it succeeds or SECONDS pass (returns 1 then).
hb_wait() {
  local limit="$1"; shift
  local end=$((SECONDS + limit))
  while [ "$SECONDS" -lt "$end" ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  "$@" >/dev/null 2>&1
}

# hb_debian_mirror [SUITE]: print the first Debian archive URI that the machine's apt configuration uses for
# SUITE (default bookworm) with component main, read from /etc/apt/sources.list{,.d/*.list,.d/*.sources}.
# Nothing is hard-coded: the mirror is whatever this machine is configured to use.
hb_debian_mirror() {
  local suite="${1:-bookworm}" f uri
  local files=()
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ "${#files[@]}" -gt 0 ] || return 1
  for f in "${files[@]}"; do
    case "$f" in
      *.sources)
        # deb822: stanzas separated by blank lines; fields Types, URIs, Suites, Components, Enabled.
        uri="$(awk -v suite="$suite" '
          function flush() {
            if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" && uris != "" \
                && (" " suites " ") ~ (" " suite " ") && (" " comps " ") ~ / main /) {
              split(uris, u, /[ \t]+/); print u[1]; found = 1; exit
            }
            types = uris = suites = comps = ""; enabled = "yes"
          }
          BEGIN { enabled = "yes" }
          /^[ \t]*#/ { next }
          /^[ \t]*$/ { flush(); next }
          {
            line = $0; key = tolower(line); sub(/:.*/, "", key); sub(/^[^:]*:[ \t]*/, "", line)
            gsub(/[ \t]+/, " ", line); sub(/ $/, "", line)
            if (key == "types") types = line
            else if (key == "uris") uris = line
            else if (key == "suites") suites = line
            else if (key == "components") comps = line
            else if (key == "enabled") enabled = tolower(line)
          }
          END { if (!found) flush() }' "$f")"
        ;;
      *)
        # one-line format: deb [options] URI SUITE COMPONENT...
        uri="$(awk -v suite="$suite" '
          /^[ \t]*deb[ \t]/ {
            i = 2
            if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            u = $i; s = $(i + 1); hasmain = 0
            for (j = i + 2; j <= NF; j++) if ($j == "main") hasmain = 1
            if (s == suite && hasmain) { print u; exit }
          }' "$f")"
        ;;
    esac
    if [ -n "$uri" ]; then printf '%s\n' "${uri%/}"; return 0; fi
  done
  return 1
}

# hb_go_moddir MODULE@VERSION: download a Go module through the module proxy and print its directory in the
# module cache (read-only there: copy it before editing).
hb_go_moddir() {
  local json dir
  json="$(timeout --kill-after=30 900 go mod download -json "$1")" || { echo "$json" >&2; return 1; }
  dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "go mod download $1 gave no module directory:" >&2; echo "$json" >&2; return 1
  fi
  printf '%s\n' "$dir"
}

# hb_go_modcopy MODULE@VERSION DEST EDIT: a writable copy of the module at DEST, made once. The module is downloaded
# (hb_go_moddir), copied to DEST.tmp, handed to the function EDIT (its one argument: that folder) to be made
# buildable, marked with MODULE@VERSION and renamed to DEST; a DEST with that mark is kept as it is.
hb_go_modcopy() {
  local mod="$1" dest="$2" edit="$3" dir
  [ -f "$dest/.prepared" ] && [ "$(cat "$dest/.prepared")" = "$mod" ] && return 0
  dir="$(hb_go_moddir "$mod")" || hb_die "go mod download $mod failed"
  hb_log "copying $dir -> $dest"
  rm -rf "$dest.tmp"; mkdir -p "$(dirname "$dest")"
  cp -a "$dir" "$dest.tmp"; chmod -R u+w "$dest.tmp"
  "$edit" "$dest.tmp"
  echo "$mod" > "$dest.tmp/.prepared"
  rm -rf "$dest"; mv "$dest.tmp" "$dest"
}

# hb_go_require_amd64: go is on PATH and builds for linux/amd64 (the only platform the scripts build for).
hb_go_require_amd64() {
  command -v go >/dev/null || hb_die "go not found on PATH"
  [ "$(go env GOARCH)" = amd64 ] || hb_die "only linux/amd64 is supported (GOARCH=$(go env GOARCH))"
}

# hb_go_stamp VERSION LDFLAGS [EXTRA]: what hb_go_build records beside each binary: the version, cgo off, the Go
# toolchain and a hash of the link flags (plus EXTRA, e.g. a source patch), so a change of any of them rebuilds.
hb_go_stamp() {
  printf '%s cgo=0 %s %s%s\n' "$1" "$(go env GOVERSION)" "$(printf '%s' "$2" | sha256sum | cut -c1-12)" "${3:+ $3}"
}

# hb_registry_has HOST:PORT/REPO:TAG: the registry (plain HTTP) has a manifest for that tag.
hb_registry_has() {
  local ref="$1" host repo tag
  host="${ref%%/*}"; repo="${ref#*/}"; tag="${repo##*:}"; repo="${repo%:*}"
  curl -sf --max-time 10 -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$host/v2/$repo/manifests/$tag"
}

# hb_image_label IMAGE KEY: the value of label KEY on IMAGE in the engine (empty when absent).
hb_image_label() {
  docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

# hb_built DIR NAME STAMP: DIR/NAME exists and was built as STAMP says (DIR/.NAME.stamp, written by hb_go_build).
hb_built() { [ -x "$1/$2" ] && [ "$(cat "$1/.$2.stamp" 2>/dev/null)" = "$3" ]; }

# hb_go_build SRC BIN STAMP LDFLAGS NAME...: one `go build` (nice'd, bounded by $HERA_BUILD_GO_TIMEOUT, default
# 2400 s) of SRC's ./cmd/NAME packages into BIN/NAME, each stamped with STAMP; prints how long it took. Packages
# built together share compilation; other settings come from the environment (CGO_ENABLED, GOFLAGS, GOWORK).
hb_go_build() {
  local src="$1" bin="$2" stamp="$3" ldflags="$4" n t0=$SECONDS
  shift 4
  local pkgs=()
  for n in "$@"; do pkgs+=("./cmd/$n"); done
  hb_log "go build $* (several minutes on 2 cores) ..."
  rm -rf "$bin/.tmp"; mkdir -p "$bin/.tmp"
  ( cd "$src" && timeout --kill-after=30 "${HERA_BUILD_GO_TIMEOUT:-2400}" \
      nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$bin/.tmp/" "${pkgs[@]}" )
  for n in "$@"; do
    mv -f "$bin/.tmp/$n" "$bin/$n"
    echo "$stamp" > "$bin/.$n.stamp"
  done
  rmdir "$bin/.tmp"
  hb_log "built $* in $((SECONDS - t0))s"
}
