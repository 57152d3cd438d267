#!/usr/bin/env python3
"""Detection latency: from an audit event written (a line appended to the followed log, or a
webhook batch acknowledged) to its alert accepted by a real Alertmanager.

Starts prometheus-alertmanager and `kube-customs serve --roles audit` on loopback, then, one
sample at a time, writes an exec session in a namespace of its own and polls Alertmanager's API
(every 2 ms) for the alert of that namespace. Prints p50, p90, p99 and max per backend.

    bench/detection_latency.py [--bin build/cmd/kube-customs] [--samples 200]
"""
import argparse
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event(n, ns):
    return json.dumps({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": f"latency-{n}", "stage": "ResponseStarted",
        "requestURI": f"/api/v1/namespaces/{ns}/pods/web-1/exec?command=sh&container=app",
        "verb": "create", "user": {"username": "mallory@example.com"},
        "objectRef": {"resource": "pods", "namespace": ns, "name": "web-1", "apiVersion": "v1",
                      "subresource": "exec"},
        "responseStatus": {"code": 101},
        "requestReceivedTimestamp": "2026-12-01T10:00:00.000000Z",
        "stageTimestamp": "2026-12-01T10:00:00.100000Z"})


def wait_for(url, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return True
        except Exception:
            time.sleep(0.1)
    return False


def alert_seen(am, ns):
    q = urllib.parse.quote(f'namespace="{ns}"')
    with urllib.request.urlopen(f"{am}/api/v2/alerts?filter={q}", timeout=2) as r:
        return json.loads(r.read()) != []


def measure(am, ns, timeout=10.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if alert_seen(am, ns):
            return time.monotonic()
        time.sleep(0.002)
    return None


def summary(label, samples):
    s = sorted(samples)
    if not s:
        print(f"{label}: no sample")
        return
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1000
    print(f"{label}: {len(s)} samples, p50 {pick(0.5):.1f} ms, p90 {pick(0.9):.1f} ms, "
          f"p99 {pick(0.99):.1f} ms, max {s[-1] * 1000:.1f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/cmd/kube-customs")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--alertmanager", default="/usr/bin/prometheus-alertmanager")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kc-latency-")
    procs = []
    try:
        am_port = free_port()
        with open(f"{work}/am.yml", "w") as f:
            f.write('route:\n  receiver: "null"\n  group_wait: 1h\nreceivers:\n  - name: "null"\n')
        procs.append(subprocess.Popen(
            [args.alertmanager, f"--config.file={work}/am.yml", f"--storage.path={work}/am-data",
             f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        am = f"http://127.0.0.1:{am_port}"
        if not wait_for(f"{am}/-/ready"):
            sys.exit("Alertmanager did not start")
        open(f"{work}/audit.log", "w").close()
        with open(f"{work}/kc.yaml", "w") as f:
            f.write(f"audit:\n  bearerTokens: [t0ken]\nalertmanager:\n  urls: [{am}]\n")
        out = open(f"{work}/kc.out", "w")
        procs.append(subprocess.Popen(
            [args.bin, "serve", "--roles", "audit", "--config", f"{work}/kc.yaml",
             "--state-dir", f"{work}/state", "--listen", "127.0.0.1:0",
             "--metrics-listen", "127.0.0.1:0", "--audit-log-path", f"{work}/audit.log"],
            stdout=out, stderr=subprocess.DEVNULL))
        https = None
        for _ in range(200):
            for line in open(f"{work}/kc.out"):
                if '"listening"' in line:
                    https = json.loads(line)["https_port"]
            if https:
                break
            time.sleep(0.1)
        if not https:
            sys.exit("kube-customs did not start")
        ctx = ssl.create_default_context(cafile=f"{work}/state/tls/ca.crt")
        n = 0

        def log_sample():
            nonlocal n
            n += 1
            ns = f"log-{n}"
            with open(f"{work}/audit.log", "a") as f:
                f.write(event(n, ns) + "\n")
                f.flush()
                t0 = time.monotonic()
            t1 = measure(am, ns)
            return None if t1 is None else t1 - t0

        def webhook_sample():
            nonlocal n
            n += 1
            ns = f"webhook-{n}"
            body = json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
                               "items": [json.loads(event(n, ns))]}).encode()
            req = urllib.request.Request(f"https://localhost:{https}/audit/webhook", data=body,
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": "Bearer t0ken"})
            with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
                r.read()
            t0 = time.monotonic()  # acknowledged
            t1 = measure(am, ns)
            return None if t1 is None else t1 - t0

        for label, sample in (("log backend (line written)", log_sample),
                              ("webhook backend (batch acknowledged)", webhook_sample)):
            samples = []
            for _ in range(args.samples):
                d = sample()
                if d is not None:
                    samples.append(max(d, 0.0))
                time.sleep(0.05)
            summary(label, samples)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except Exception:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
