#!/usr/bin/env bash
# A single-node Kubernetes with Argo Workflows, as host processes on 127.0.0.1 (no image is pulled, no CNI):
#   etcd -> kube-apiserver (:6443) -> kube-scheduler, kube-controller-manager -> containerd (own instance, CRI on)
#   -> kubelet (node-ip 127.0.0.1) -> Argo CRDs, namespace argo, ConfigMap, RBAC -> workflow-controller
#   -> argo server (http://127.0.0.1:2746, --auth-mode=server) -> S3 artifact repository (moto, 127.0.0.1:7480).
# Only hostNetwork pods run (the Argo ConfigMap makes every workflow hostNetwork). Binaries come from
# scripts/build-kube.sh and scripts/build-argo.sh (run them first). Needs root.
#
#   scripts/cluster.sh up            start what is not running (idempotent; a healthy cluster is a no-op)
#   scripts/cluster.sh down          stop everything (pods, then components); state is kept
#   scripts/cluster.sh down --purge  stop, unmount and delete the state folder
#   scripts/cluster.sh status        one line per component; exit 1 when one is not healthy
#   scripts/cluster.sh logs POD [CONTAINER]   pod logs from /var/log/pods (kubectl logs cannot reach the kubelet)
#   scripts/cluster.sh --print-env   the export lines for the tests
#
# State, logs (STATE/logs/*.log) and pid files (STATE/run/*.pid) live in ${HERA_BUILD_CLUSTER_DIR:-/var/lib/hera-build-cluster}.
# The argo CLI talks to it either through the kubeconfig (argo --kubeconfig STATE/kubeconfig -n argo list) or
# through the server: ARGO_SERVER=127.0.0.1:2746 ARGO_SECURE=false ARGO_HTTP1=true ARGO_TOKEN='Bearer unused'
# (--auth-mode=server ignores the token, but the CLI wants one). Argo has no bind-address flags: the argo server
# (:2746) and the controller (health :6060, metrics :9090) listen on all interfaces; the rest on 127.0.0.1 only.
#
# Argo's default artifact repository is S3 at 127.0.0.1:7480 (the workflow pods use the host network), bucket
# hera-build-artifacts: moto's S3 server (`moto_server`, in-memory, no signature checks) from the test extra, so
# it is ${HERA_BUILD_S3_SERVER:-.venv/bin/moto_server}. On a fresh machine .venv comes after the first `up`: that
# `up` says so and goes on without it, and the next `up` (scripts/setup.sh runs one after its pip install)
# starts it. The executor finds the keys in its environment (useSDKCreds), so every namespace can use it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"

STATE="${HERA_BUILD_CLUSTER_DIR:-/var/lib/hera-build-cluster}"
NODE=hera-build-node
NAMESPACE=argo
API_PORT=6443
ARGO_SERVER_PORT=2746
KUBECONFIG_FILE="$STATE/kubeconfig"
PKI="$STATE/pki"; LOGS="$STATE/logs"; RUN="$STATE/run"
CTRD="$STATE/containerd"; CTRD_SOCK="$CTRD/containerd.sock"
WAIT="${HERA_BUILD_CLUSTER_TIMEOUT:-120}"   # bound on each component's readiness wait, in seconds
S3_PORT=7480
S3_BUCKET=hera-build-artifacts
S3_SERVER="${HERA_BUILD_S3_SERVER:-$(dirname "$HERE")/.venv/bin/moto_server}"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

print_env() {
  echo "export HERA_BUILD_TEST_KUBECONFIG=$KUBECONFIG_FILE"
  echo "export HERA_BUILD_TEST_ARGO_SERVER=http://127.0.0.1:$ARGO_SERVER_PORT"
  echo "export HERA_BUILD_TEST_ARGO_NAMESPACE=$NAMESPACE"
}

load_binaries() {
  eval "$("$HERE/build-kube.sh" --print-env)"
  eval "$("$HERE/build-argo.sh" --print-env)"
  KUBE_BIN="$HERA_BUILD_TEST_KUBE_BIN"; KUBECTL="$HERA_BUILD_TEST_KUBECTL"; ETCD="$HERA_BUILD_TEST_ETCD"
  PAUSE_IMAGE="$HERA_BUILD_TEST_PAUSE_IMAGE"; ARGO="$HERA_BUILD_TEST_ARGO"
  CONTROLLER="$HERA_BUILD_TEST_ARGO_CONTROLLER"; EXEC_IMAGE="$HERA_BUILD_TEST_ARGOEXEC_IMAGE"
  ARGO_SRC="$(dirname "$(dirname "$ARGO")")/src"   # build-argo.sh's copy of the module: CRD manifests
}

kc() { timeout 60 "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# ---------- processes ----------
pid_of() { local f="$RUN/$1.pid"; [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; }

start_proc() { # start_proc NAME ENV... -- CMD...: start in the background, own session, log + pid file
  local name="$1"; shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  echo "---- $(date -u +%FT%TZ) starting: $*" >> "$LOGS/$name.log"
  env "${envs[@]}" setsid nohup "$@" >> "$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
}

stop_proc() { # stop_proc NAME [GRACE]: TERM, up to GRACE (default 30) seconds, then KILL
  local name="$1" grace="${2:-30}" pid
  pid="$(pid_of "$name" || true)"
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    local end=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then hb_log "$name (pid $pid) ignored TERM: killing"; kill -KILL "$pid" 2>/dev/null || true; fi
    hb_log "stopped $name (pid $pid)"
  fi
  rm -f "$RUN/$name.pid"
}

# component NAME HEALTHCHECK START_FUNCTION: no-op when running and healthy, else start and wait (bounded)
component() {
  local name="$1" check="$2" start="$3" t0=$SECONDS
  if pid_of "$name" >/dev/null && "$check"; then
    hb_log "$name: already running (pid $(pid_of "$name"))"
    return 0
  fi
  if pid_of "$name" >/dev/null; then
    hb_log "$name: running but not healthy yet; waiting up to ${WAIT}s"
  else
    "$start"
  fi
  if ! hb_wait "$WAIT" "$check"; then
    tail -n 40 "$LOGS/$name.log" >&2 || true
    hb_die "$name did not become ready within ${WAIT}s (log: $LOGS/$name.log)"
  fi
  hb_log "$name: ready in $((SECONDS - t0))s (pid $(pid_of "$name"))"
}

# ---------- health checks ----------
TOKEN_FILE="$STATE/admin.token"
api_get() { curl -sf --max-time 5 -k -H "Authorization: Bearer $(cat "$TOKEN_FILE")" "https://127.0.0.1:$API_PORT$1"; }
etcd_ok() { curl -sf --max-time 5 http://127.0.0.1:2379/health | grep -q '"health":"true"'; }
apiserver_ok() { [ "$(api_get /readyz 2>/dev/null)" = ok ]; }
scheduler_ok() { [ "$(curl -sfk --max-time 5 https://127.0.0.1:10259/healthz)" = ok ]; }
controller_manager_ok() { [ "$(curl -sfk --max-time 5 https://127.0.0.1:10257/healthz)" = ok ]; }
containerd_ok() { timeout 10 ctr --address "$CTRD_SOCK" version >/dev/null 2>&1; }
kubelet_ok() {
  [ "$(curl -sf --max-time 5 http://127.0.0.1:10248/healthz)" = ok ] && api_get "/api/v1/nodes/$NODE" >/dev/null
}
workflow_controller_ok() { [ "$(curl -sf --max-time 5 http://127.0.0.1:6060/healthz)" = ok ]; }
argo_server_ok() { curl -sf --max-time 5 "http://127.0.0.1:$ARGO_SERVER_PORT/api/v1/version" | grep -q '"version"'; }
s3_listening() { curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$S3_PORT/"; }
s3_ok() { curl -sf -o /dev/null --max-time 5 -I "http://127.0.0.1:$S3_PORT/$S3_BUCKET"; }   # HeadBucket

# ---------- one-time state ----------
init_state() {
  mkdir -p "$PKI" "$LOGS" "$RUN" "$CTRD" "$STATE/etcd" "$STATE/kubelet" "$STATE/bin" "$STATE/argo"
  chmod 700 "$STATE" "$PKI"
  if [ ! -s "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key.tmp" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key.tmp" -pubout -out "$PKI/sa.pub" 2>/dev/null
    mv "$PKI/sa.key.tmp" "$PKI/sa.key"
  fi
  if [ ! -s "$TOKEN_FILE" ]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$TOKEN_FILE.tmp"; mv "$TOKEN_FILE.tmp" "$TOKEN_FILE"
  fi
  chmod 600 "$TOKEN_FILE"
  echo "$(cat "$TOKEN_FILE"),admin,admin,system:masters" > "$PKI/tokens.csv"
  cat > "$KUBECONFIG_FILE" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: hera-build
  cluster: {server: "https://127.0.0.1:$API_PORT", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: "$(cat "$TOKEN_FILE")"}
contexts:
- name: hera-build
  context: {cluster: hera-build, user: admin}
current-context: hera-build
YAML
  chmod 600 "$KUBECONFIG_FILE"

  # runc wrapper: this machine forbids lowering oom_score_adj, and the kubelet asks for -998 on sandboxes
  # (runc then fails with "can't get final child's PID from pipe"). Raise process.oomScoreAdj in the bundle's
  # config.json to at least our own value before runc create/run.
  cat > "$STATE/bin/runc" <<'SH'
#!/bin/sh
# generated by hera-build scripts/cluster.sh: raise process.oomScoreAdj to what this machine allows, then exec runc
bundle=""; prev=""; cmd=""
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle="$a" ;; esac
  case "$a" in --bundle=*) bundle="${a#--bundle=}" ;; create|run) [ -z "$cmd" ] && cmd="$a" ;; esac
  prev="$a"
done
if [ -n "$cmd" ] && [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
  python3 - "$bundle/config.json" "$(cat /proc/self/oom_score_adj)" <<'PY' || true
import json, os, sys
path, floor = sys.argv[1], int(sys.argv[2])
with open(path) as f:
    spec = json.load(f)
proc = spec.get("process") or {}
if proc.get("oomScoreAdj") is not None and proc["oomScoreAdj"] < floor:
    proc["oomScoreAdj"] = floor
    with open(path + ".tmp", "w") as f:
        json.dump(spec, f)
    os.replace(path + ".tmp", path)
PY
fi
exec /usr/sbin/runc "$@"
SH
  chmod 755 "$STATE/bin/runc"

  cat > "$CTRD/config.toml" <<TOML
# generated by hera-build scripts/cluster.sh: a containerd for the kubelet only (Docker's keeps CRI off)
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$STATE/bin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$HERA_BUILD_REGISTRY"]
    endpoint = ["http://$HERA_BUILD_REGISTRY"]
TOML

  cat > "$STATE/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$CTRD_SOCK
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
resolvConf: /etc/resolv.conf
serializeImagePulls: false
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
YAML
}

# ---------- start functions ----------
start_etcd() {
  start_proc etcd -- "$ETCD" --name hera-build --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster hera-build=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
    --max-request-bytes=8388608   # Argo's full CRDs are ~1.5 MB as JSON, etcd's default limit 1.5 MiB
}
start_apiserver() {
  start_proc kube-apiserver -- "$KUBE_BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" --cert-dir="$PKI" \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --token-auth-file="$PKI/tokens.csv" --authorization-mode=RBAC --allow-privileged=true \
    --service-cluster-ip-range=10.96.0.0/16 --enable-priority-and-fairness=false
}
start_scheduler() {
  start_proc kube-scheduler -- "$KUBE_BIN/kube-scheduler" --kubeconfig="$KUBECONFIG_FILE" \
    --leader-elect=false --bind-address=127.0.0.1
}
start_controller_manager() {
  start_proc kube-controller-manager -- "$KUBE_BIN/kube-controller-manager" --kubeconfig="$KUBECONFIG_FILE" \
    --leader-elect=false --bind-address=127.0.0.1 --controllers='*,-node-lifecycle-controller' \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/apiserver.crt"
}
start_containerd() {
  rm -f "$CTRD_SOCK" "$CTRD_SOCK.ttrpc"
  start_proc containerd -- /usr/bin/containerd --config "$CTRD/config.toml"
}
start_kubelet() {
  start_proc kubelet -- "$KUBE_BIN/kubelet" --config="$STATE/kubelet/config.yaml" \
    --kubeconfig="$KUBECONFIG_FILE" --root-dir="$STATE/kubelet/root" --node-ip=127.0.0.1 \
    --hostname-override="$NODE"
}
start_workflow_controller() {
  start_proc workflow-controller LEADER_ELECTION_DISABLE=true -- "$CONTROLLER" --kubeconfig "$KUBECONFIG_FILE" \
    --namespace "$NAMESPACE" --executor-image "$EXEC_IMAGE" --configmap workflow-controller-configmap
}
start_argo_server() {
  # argo server v4.0.5 listens on ":PORT" (all interfaces) and has no flag for the address. scripts/build-argo.sh
  # patches server/apiserver/argoserver.go to take the address from $ARGO_SERVER_BIND_ADDRESS, so this variable
  # keeps it on loopback; a binary built before that patch ignores it.
  start_proc argo-server ARGO_SERVER_BIND_ADDRESS=127.0.0.1 -- "$ARGO" server --kubeconfig "$KUBECONFIG_FILE" --auth-mode=server --secure=false \
    --namespace "$NAMESPACE" --port "$ARGO_SERVER_PORT" --browser=false
}

start_s3() {
  # moto keeps everything in memory: a new server has no bucket (the executor would fail with NoSuchBucket)
  start_proc s3 -- "$S3_SERVER" -H 127.0.0.1 -p "$S3_PORT"
  hb_wait "$WAIT" s3_listening || return 0   # component() reports the failure with the log
  curl -sf -o /dev/null --max-time 5 -X PUT "http://127.0.0.1:$S3_PORT/$S3_BUCKET" || hb_log "s3: creating $S3_BUCKET failed"
}
s3_component() { # the artifact repository, when its server is installed (see the header)
  if [ ! -x "$S3_SERVER" ]; then
    hb_log "s3: $S3_SERVER not installed yet (pip install -e '.[test]' into .venv, then cluster.sh up again):" \
           "workflows that save output artifacts fail until then"
    return 0
  fi
  if pid_of s3 >/dev/null && s3_listening && ! s3_ok; then   # someone deleted the bucket
    curl -sf -o /dev/null --max-time 5 -X PUT "http://127.0.0.1:$S3_PORT/$S3_BUCKET" || true
  fi
  component s3 s3_ok start_s3
}

# ---------- cluster objects ----------
crd_names() { sed -n 's/^  name: \(.*argoproj\.io\)$/\1/p' "$ARGO_SRC"/manifests/base/crds/full/argoproj.io_*.yaml; }
crds_established() { # every Argo CRD of the module is Established (one request)
  local got
  got="$(kc get crd -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Established")].status}{"\n"}{end}' \
           2>/dev/null | awk '$2 == "True" { print $1 }' | sort)" || return 1
  [ -z "$(comm -23 <(crd_names | sort) <(printf '%s\n' "$got"))" ]
}

apply_objects() {
  local t0=$SECONDS f sum
  local crds=()
  # The kubelet registers the node with node.kubernetes.io/not-ready:NoSchedule; without the node-lifecycle
  # controller (and without CNI the node never gets Ready) nobody removes it.
  if kc get node "$NODE" -o jsonpath='{.spec.taints[*].key}' | grep -q node.kubernetes.io/not-ready; then
    kc taint node "$NODE" node.kubernetes.io/not-ready- >/dev/null
  fi
  cat > "$STATE/argo/objects.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: $NAMESPACE}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: workflow-controller-configmap, namespace: $NAMESPACE}
data:
  # No CNI on this node: every workflow pod uses the host network, and its executor reaches the API server
  # on 127.0.0.1 (the kubernetes Service's cluster IP is not routed).
  workflowDefaults: |
    spec:
      hostNetwork: true
  # The S3 keys come from the executor's environment (useSDKCreds: the AWS SDK's chain) rather than from
  # Secrets, which Argo looks up in each workflow's namespace: tests run in namespaces of their own. moto checks
  # no signature; the keys only have to be there.
  executor: |
    env:
    - {name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}
    - {name: KUBERNETES_SERVICE_PORT, value: "$API_PORT"}
    - {name: AWS_ACCESS_KEY_ID, value: hera-build-test}
    - {name: AWS_SECRET_ACCESS_KEY, value: hera-build-test-not-secret}
  artifactRepository: |
    s3:
      endpoint: 127.0.0.1:$S3_PORT
      bucket: $S3_BUCKET
      region: us-east-1
      insecure: true
      useSDKCreds: true
---
# A throwaway test cluster: every service account (the workflows' "default" one included) is cluster-admin.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: hera-build-service-accounts-cluster-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:serviceaccounts"}
YAML
  # Applying the ~10 MB of unchanged CRDs again takes half a minute: skip when this exact set is in place.
  for f in "$ARGO_SRC"/manifests/base/crds/full/argoproj.io_*.yaml; do crds+=(-f "$f"); done
  sum="$(cat "$ARGO_SRC"/manifests/base/crds/full/argoproj.io_*.yaml "$STATE/argo/objects.yaml" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$STATE/argo/applied.sha256" 2>/dev/null)" = "$sum" ] && crds_established \
      && kc -n "$NAMESPACE" get configmap workflow-controller-configmap >/dev/null 2>&1; then
    hb_log "CRDs, namespace $NAMESPACE, ConfigMap, RBAC already applied"
    return 0
  fi
  rm -f "$STATE/argo/applied.sha256"
  kc apply --server-side --force-conflicts "${crds[@]}" >/dev/null
  hb_wait "$WAIT" crds_established || hb_die "Argo CRDs not Established within ${WAIT}s"
  kc apply -f "$STATE/argo/objects.yaml" >/dev/null
  hb_wait "$WAIT" kc -n "$NAMESPACE" get serviceaccount default || hb_die "no default service account in $NAMESPACE"
  echo "$sum" > "$STATE/argo/applied.sha256"
  hb_log "CRDs, namespace $NAMESPACE, ConfigMap, RBAC applied in $((SECONDS - t0))s"
}

# ---------- commands ----------
cmd_up() {
  [ "$(id -u)" = 0 ] || hb_die "must run as root"
  load_binaries
  local b
  for b in "$ETCD" "$KUBE_BIN/kube-apiserver" "$KUBE_BIN/kubelet" "$KUBECTL"; do
    [ -x "$b" ] || hb_die "$b missing (run scripts/build-kube.sh)"
  done
  for b in "$ARGO" "$CONTROLLER"; do [ -x "$b" ] || hb_die "$b missing (run scripts/build-argo.sh)"; done
  if ! command -v containerd >/dev/null || [ ! -x /usr/sbin/runc ]; then hb_die "containerd/runc not installed (Debian containerd, runc)"; fi
  hb_registry_has "$PAUSE_IMAGE" || hb_die "$PAUSE_IMAGE not in the registry (run scripts/build-kube.sh)"
  hb_registry_has "$EXEC_IMAGE" || hb_die "$EXEC_IMAGE not in the registry (run scripts/build-argo.sh)"
  local t0=$SECONDS
  init_state
  component etcd etcd_ok start_etcd
  component kube-apiserver apiserver_ok start_apiserver
  component kube-scheduler scheduler_ok start_scheduler
  component kube-controller-manager controller_manager_ok start_controller_manager
  component containerd containerd_ok start_containerd
  component kubelet kubelet_ok start_kubelet
  apply_objects
  component workflow-controller workflow_controller_ok start_workflow_controller
  component argo-server argo_server_ok start_argo_server
  s3_component
  hb_log "cluster up in $((SECONDS - t0))s: kubeconfig $KUBECONFIG_FILE, argo server http://127.0.0.1:$ARGO_SERVER_PORT"
  print_env
}

stop_pods() { # kill and remove every container of our containerd (pods first, so no shim outlives it)
  containerd_ok || return 0
  local c ids
  ids="$(timeout 30 ctr --address "$CTRD_SOCK" -n k8s.io tasks ls -q 2>/dev/null || true)"
  for c in $ids; do timeout 30 ctr --address "$CTRD_SOCK" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
  for c in $ids; do timeout 30 ctr --address "$CTRD_SOCK" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 || true; done
  ids="$(timeout 30 ctr --address "$CTRD_SOCK" -n k8s.io containers ls -q 2>/dev/null || true)"
  for c in $ids; do timeout 30 ctr --address "$CTRD_SOCK" -n k8s.io containers rm "$c" >/dev/null 2>&1 || true; done
  [ -z "$ids" ] || hb_log "removed $(echo "$ids" | wc -w) containers"
}

shim_pids() { # containerd shims started by our containerd (their command line names our socket)
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -q -- "-address $CTRD_SOCK " && echo "${p#/proc/}"
  done
  return 0
}

cmd_down() {
  local purge="${1:-}" p
  [ -d "$STATE" ] || { hb_log "no cluster state at $STATE"; return 0; }
  # Argo's server and controller (v4.0.5) do not exit on TERM; their state is all in the API server anyway.
  stop_proc s3 5
  stop_proc argo-server 3
  stop_proc workflow-controller 3
  stop_proc kubelet
  stop_pods
  stop_proc containerd
  for p in $(shim_pids); do hb_log "killing leftover shim $p"; kill -KILL "$p" 2>/dev/null || true; done
  stop_proc kube-controller-manager
  stop_proc kube-scheduler
  stop_proc kube-apiserver
  stop_proc etcd
  if [ "$purge" = --purge ]; then
    # kubelet volumes (tmpfs, projected tokens) and containerd snapshots may still be mounted under STATE
    awk -v s="$STATE/" 'index($2, s) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$STATE"
    hb_log "removed $STATE"
  fi
}

cmd_status() {
  local rc=0 name check
  for name in etcd kube-apiserver kube-scheduler kube-controller-manager containerd kubelet workflow-controller argo-server s3; do
    check="${name//-/_}_ok"; check="${check/kube_/}"
    if pid_of "$name" >/dev/null && "$check" 2>/dev/null; then
      printf '%-24s up (pid %s)\n' "$name" "$(pid_of "$name")"
    elif pid_of "$name" >/dev/null; then
      printf '%-24s running, not healthy (pid %s)\n' "$name" "$(pid_of "$name")"; rc=1
    else
      printf '%-24s down\n' "$name"; rc=1
    fi
  done
  return "$rc"
}

cmd_logs() { # cmd_logs POD [CONTAINER]: newest log of the pod's containers (namespace $NAMESPACE unless NS/POD)
  local pod="$1" container="${2:-}" ns="$NAMESPACE" d
  case "$pod" in */*) ns="${pod%%/*}"; pod="${pod#*/}" ;; esac
  for d in /var/log/pods/"${ns}_${pod}"_*/; do
    [ -d "$d" ] || hb_die "no logs for pod $ns/$pod under /var/log/pods"
    local c
    for c in "$d"*/; do
      c="$(basename "$c")"
      [ -z "$container" ] || [ "$container" = "$c" ] || continue
      local f
      f="$(find "$d$c" -name '*.log' -printf '%T@ %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)"
      [ -n "$f" ] || continue
      echo "==> $ns/$pod $c ($f)"
      cat "$f"
    done
  done
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down "${2:-}" ;;
  status) cmd_status ;;
  logs) [ $# -ge 2 ] || hb_die "usage: $0 logs POD [CONTAINER]"; cmd_logs "$2" "${3:-}" ;;
  --print-env) print_env ;;
  -h|--help) usage ;;
  *) usage >&2; exit 2 ;;
esac
