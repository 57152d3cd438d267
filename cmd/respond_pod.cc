#include "cmd/respond_pod.h"

#include <iostream>
#include <set>

#include "cmd/flags.h"
#include "cmd/output.h"
#include "respond/pod_manifests.h"

namespace kc::cmd {
namespace {

constexpr const char* kIsolateUsage =
    "usage: kube-customs respond isolate-pod --namespace NS --name POD [--owner KIND/NAME]\n"
    "Prints, for kubectl apply --server-side --field-manager=kube-customs-respond, a deny-all\n"
    "NetworkPolicy for the pods of NS labelled kube-customs.io/quarantine=true and the pod\n"
    "with that label added (it keeps running, for evidence). With --owner, also the owner\n"
    "stopped: replicas 0 (deployment, statefulset, replicaset, replicationcontroller), a\n"
    "nodeSelector no node matches (daemonset), or suspended (job, cronjob); the apply then\n"
    "needs --force-conflicts, except for a daemonset. Nothing is sent to the cluster.\n";

constexpr const char* kReleaseUsage =
    "usage: kube-customs respond release-pod --namespace NS --name POD\n"
    "                                        [--owner KIND/NAME [--replicas N]]\n"
    "Prints the reverse of isolate-pod for the same server-side apply field manager: the pod\n"
    "without the quarantine label, the owner with spec.replicas N (required for a deployment,\n"
    "statefulset, replicaset or replicationcontroller), without the quarantine nodeSelector\n"
    "(daemonset) or resumed (job, cronjob). The NetworkPolicy is left; its delete command is in\n"
    "the printed header.\n";

// A non-negative int32, the range of spec.replicas. False for anything else.
bool parseReplicas(const std::string& s, int& out) {
  if (s.empty() || s.size() > 10) return false;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > 2147483647) return false;
  out = static_cast<int>(v);
  return true;
}

}  // namespace

int runRespondPod(const std::vector<std::string>& args, bool release) {
  const std::string command = release ? "respond release-pod" : "respond isolate-pod";
  const char* usage = release ? kReleaseUsage : kIsolateUsage;
  std::set<std::string> valued{"namespace", "n", "name", "owner"};
  if (release) valued.insert("replicas");
  Flags flags(std::move(valued), {"help"});
  std::string error;
  const bool parsed = flags.parse(args, error);
  if (parsed && flags.has("help")) {
    std::cout << usage << "Owner kinds: " << respond::kOwnerKinds << ".\n";
    return stdoutWritten(command) ? 0 : 1;
  }
  if (parsed && !flags.positional().empty())
    error = "unexpected argument \"" + flags.positional().front() + "\"";
  else if (parsed && !flags.get("namespace") && !flags.get("n"))
    error = "--namespace is required";
  else if (parsed && !flags.get("name"))
    error = "--name is required";
  respond::PodQuarantine q;
  if (error.empty()) {
    q.namespace_ = flags.get("namespace").value_or(flags.get("n").value_or(""));
    q.pod = *flags.get("name");
    if (auto owner = flags.get("owner")) respond::parseOwner(*owner, q, error);
    if (auto replicas = flags.get("replicas"); replicas && !parseReplicas(*replicas, q.replicas))
      error = "--replicas needs a whole number from 0 to 2147483647";
  }
  std::string yaml;
  if (error.empty() && release) respond::releasePodManifests(q, yaml, error);
  if (error.empty() && !release) respond::isolatePodManifests(q, yaml, error);
  if (!error.empty()) {
    std::cerr << "kube-customs " << command << ": " << error << "\n" << usage;
    return 2;
  }
  std::cout << yaml;
  noteStdoutWrite();
  return stdoutWritten(command) ? 0 : 1;
}

}  // namespace kc::cmd
