#!/usr/bin/env bash
# Runs kube-customs locally on its embedded defaults: a self-signed CA and serving certificate
# under .run/tls, the bundled policies, both roles (webhook and audit) with the audit role
# following the local file .run/audit.log, HTTPS on 127.0.0.1:8443 and metrics on
# 127.0.0.1:9090. Extra arguments go to `kube-customs serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
scripts/build.sh build-run -DCMAKE_BUILD_TYPE=Release -DKC_BUILD_TESTS=OFF -DKC_BUILD_BENCHMARKS=OFF
mkdir -p .run
touch .run/audit.log
cat <<MSG >&2
kube-customs: starting. Try, from another shell:
  curl --cacert .run/tls/ca.crt https://localhost:8443/readyz
  curl --cacert .run/tls/ca.crt -H 'Content-Type: application/json' \\
       --data @test/testdata/pod_admission_review.json https://localhost:8443/validate
  cat test/testdata/audit_attack.jsonl >> .run/audit.log   # findings appear in the log
  curl http://127.0.0.1:9090/metrics
MSG
exec build-run/cmd/kube-customs serve --state-dir .run --audit-log-path .run/audit.log \
  --listen 127.0.0.1:8443 --metrics-listen 127.0.0.1:9090 "$@"
