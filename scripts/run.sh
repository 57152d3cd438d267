#!/usr/bin/env bash
# Runs kube-customs locally on its embedded defaults: a self-signed CA and serving certificate
# under .run/tls, the bundled policies, the webhook and audit roles with the audit role
# following the local file .run/audit.log, HTTPS on 127.0.0.1:8443 and metrics on
# 127.0.0.1:9090. When this machine has a Docker Engine or containerd socket, the node role too,
# on the sockets that exist only (a missing one is switched off, not retried); it only reads
# them (list, inspect, events). Override the paths with DOCKER_SOCKET / CONTAINERD_SOCKET, or
# skip the node role with KC_NODE=0. Extra arguments go to `kube-customs serve` (the last
# --roles wins).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
scripts/build.sh build-run -DCMAKE_BUILD_TYPE=Release -DKC_BUILD_TESTS=OFF -DKC_BUILD_BENCHMARKS=OFF
mkdir -p .run
touch .run/audit.log

# The node role, on the runtime sockets that are there. A socket set to "" in its configuration
# (.run/node.yaml) switches that runtime off, so the role never waits on one that does not exist.
bin=build-run/cmd/kube-customs
roles=webhook,audit
node_args=()
node_msg="node role: off (no Docker or containerd socket found)"
docker_sock=${DOCKER_SOCKET:-/var/run/docker.sock}
containerd_sock=${CONTAINERD_SOCKET:-/run/containerd/containerd.sock}
use_docker=false
use_containerd=false
[[ -S $docker_sock ]] && use_docker=true
[[ -S $containerd_sock ]] && use_containerd=true
if [[ ${KC_NODE:-1} == 0 ]]; then
  node_msg="node role: off (KC_NODE=0)"
elif $use_docker || $use_containerd; then
  roles=webhook,audit,node
  watched=()
  $use_docker && watched+=("docker at $docker_sock") || docker_sock=""
  $use_containerd && watched+=("containerd at $containerd_sock") || containerd_sock=""
  printf 'node:\n  dockerSocket: "%s"\n  containerdSocket: "%s"\n' "$docker_sock" "$containerd_sock" >.run/node.yaml
  node_args=(--config .run/node.yaml)
  node_msg="node role: on, watching ${watched[*]} (read-only calls: list, inspect, events; containers
  started here outside Kubernetes are reported as container-outside-kubernetes)"
  for s in "$docker_sock" "$containerd_sock"; do
    if [[ -n $s && ! ( -r $s && -w $s ) ]]; then
      node_msg+="
  note: $s is not readable and writable by $(id -un): that runtime will be unreachable"
    fi
  done
fi

cat <<MSG >&2
$node_msg
kube-customs: starting. Try, from another shell:
  curl --cacert .run/tls/ca.crt https://localhost:8443/readyz
  curl --cacert .run/tls/ca.crt -H 'Content-Type: application/json' \\
       --data @test/testdata/pod_admission_review.json https://localhost:8443/validate
  cat test/testdata/audit_attack.jsonl >> .run/audit.log   # findings appear in the log
  curl http://127.0.0.1:9090/metrics
MSG
if [[ $roles == *node* ]]; then
  if $use_docker; then
    echo "  docker run -d --name kc-try busybox sleep 600   # a container outside Kubernetes: a node_finding" >&2
  else
    echo "  ctr run -d docker.io/library/busybox:latest kc-try sleep 600   # after ctr image pull; a node_finding" >&2
  fi
  echo "  curl -s http://127.0.0.1:9090/metrics | grep kube_customs_node_" >&2
fi
exec "$bin" serve --state-dir .run --audit-log-path .run/audit.log --roles "$roles" \
  ${node_args[@]+"${node_args[@]}"} --listen 127.0.0.1:8443 --metrics-listen 127.0.0.1:9090 "$@"
