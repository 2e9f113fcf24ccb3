#!/usr/bin/env bash
# The e2e suite on kind, for machines with Docker:
#   1. create a kind cluster (or reuse one of the same name),
#   2. build the runtime and operator images from runtime/Dockerfile and
#      operator/Dockerfile with docker and `kind load` them,
#   3. run e2e/suite against it with real pods: the suite installs
#      charts/berth with those images and the bundled Redis, deploys the
#      examples, calls their tools through the Services with the MCP SDK
#      client (kubectl port-forward), scales, restarts, deletes, uninstalls,
#   4. delete the cluster (unless BERTH_KIND_KEEP=1).
#
# Needs: docker, kind, and the repository's npm dependencies (`npm ci`);
# kubectl and helm come from the e2e workspace unless KUBECTL / HELM are set.
# Settings: KIND_CLUSTER_NAME (berth-e2e), BERTH_IMAGE_TAG (e2e-<commit>),
# BERTH_KIND_KEEP=1, BERTH_E2E_ARTIFACTS=<dir> (suite output and kind logs),
# and any BERTH_E2E_* setting of the suite (e2e/suite/README.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
CLUSTER="${KIND_CLUSTER_NAME:-berth-e2e}"
TAG="${BERTH_IMAGE_TAG:-e2e-$(git rev-parse --short HEAD 2>/dev/null || date +%s)}"
RUNTIME_IMAGE="localhost/berth/runtime:${TAG}"
OPERATOR_IMAGE="localhost/berth/operator:${TAG}"
ARTIFACTS="${BERTH_E2E_ARTIFACTS:-}"
WORK="$(mktemp -d)"
CREATED=0

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'e2e/kind/run.sh: %s\n' "$*" >&2; exit 2; }

for tool in docker kind; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH"
done
docker info >/dev/null 2>&1 || die "cannot reach the Docker daemon (docker info failed)"
for f in runtime/Dockerfile operator/Dockerfile; do
  [ -f "$f" ] || die "$f is missing: the images are built from it"
done
[ -d node_modules ] || die "run npm ci first (the suite runs from this checkout)"

cleanup() {
  local status=$?
  if [ -n "$ARTIFACTS" ] && [ "$status" -ne 0 ]; then
    mkdir -p "$ARTIFACTS"
    kind export logs --name "$CLUSTER" "$ARTIFACTS/kind-logs" >/dev/null 2>&1 || true
  fi
  if [ "$CREATED" = 1 ] && [ "${BERTH_KIND_KEEP:-0}" != 1 ]; then
    say "deleting kind cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  elif [ "${BERTH_KIND_KEEP:-0}" = 1 ]; then
    say "kept kind cluster $CLUSTER (kind delete cluster --name $CLUSTER)"
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

started=$(date +%s)
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  say "reusing kind cluster $CLUSTER"
else
  say "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --config e2e/kind/cluster.yaml --wait 180s
  CREATED=1
fi
kind get kubeconfig --name "$CLUSTER" > "$WORK/kubeconfig"

say "building $RUNTIME_IMAGE and $OPERATOR_IMAGE"
docker build --quiet -t "$RUNTIME_IMAGE" -f runtime/Dockerfile .
docker build --quiet -t "$OPERATOR_IMAGE" -f operator/Dockerfile .
say "loading the images into $CLUSTER"
kind load docker-image --name "$CLUSTER" "$RUNTIME_IMAGE" "$OPERATOR_IMAGE"
say "cluster and images ready after $(( $(date +%s) - started )) s"

export KUBECONFIG="$WORK/kubeconfig"
# A reused cluster keeps the CRD of an earlier run (crds.keep): Helm cannot adopt it into a new release.
KUBECTL_BIN="${KUBECTL:-$(cd e2e && npx node -e "import('./src/cluster/test-cluster.ts').then((m) => process.stdout.write(m.kubectlPath()))")}"
if [ "$CREATED" = 0 ] && [ -z "${BERTH_E2E_CHART_CRDS:-}" ] && "$KUBECTL_BIN" get crd mcpservers.berth.dev >/dev/null 2>&1; then
  say "the CRD exists from an earlier run: the suite applies crds/ itself (BERTH_E2E_CHART_CRDS=0)"
  export BERTH_E2E_CHART_CRDS=0
fi
export BERTH_E2E_REAL_PODS=1
export BERTH_E2E_PACKAGE_EGRESS="${BERTH_E2E_PACKAGE_EGRESS:-1}"
export BERTH_E2E_OPERATOR=in-cluster
export BERTH_E2E_OPERATOR_IMAGE="$OPERATOR_IMAGE"
export BERTH_E2E_RUNTIME_IMAGE="$RUNTIME_IMAGE"
# kind-loaded images must not be pulled.
export BERTH_E2E_PULL_POLICY=IfNotPresent

say "running the e2e suite"
if [ -n "$ARTIFACTS" ]; then
  mkdir -p "$ARTIFACTS"
  npx node e2e/suite/run.ts 2>&1 | tee "$ARTIFACTS/suite.log"
else
  npx node e2e/suite/run.ts
fi
say "done in $(( $(date +%s) - started )) s"
