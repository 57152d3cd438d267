#include "respond/pod_manifests.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <utility>

namespace kc::respond {
namespace {

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One DNS-1123 label without its length limit: [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool isLabelChars(std::string_view s) {
  if (s.empty() || !isLowerAlnum(s.front()) || !isLowerAlnum(s.back())) return false;
  for (char c : s)
    if (!isLowerAlnum(c) && c != '-') return false;
  return true;
}

struct KindInfo {
  OwnerKind kind;
  std::string_view name;                  // the Kubernetes kind
  std::string_view apiVersion;            // its group and version
  std::array<std::string_view, 3> names;  // lower case: singular, plural, short ("" if none)
};

constexpr std::array<KindInfo, 7> kKinds{{
    {OwnerKind::kDeployment, "Deployment", "apps/v1", {"deployment", "deployments", "deploy"}},
    {OwnerKind::kStatefulSet, "StatefulSet", "apps/v1", {"statefulset", "statefulsets", "sts"}},
    {OwnerKind::kReplicaSet, "ReplicaSet", "apps/v1", {"replicaset", "replicasets", "rs"}},
    {OwnerKind::kReplicationController,
     "ReplicationController",
     "v1",
     {"replicationcontroller", "replicationcontrollers", "rc"}},
    {OwnerKind::kDaemonSet, "DaemonSet", "apps/v1", {"daemonset", "daemonsets", "ds"}},
    {OwnerKind::kJob, "Job", "batch/v1", {"job", "jobs", ""}},
    {OwnerKind::kCronJob, "CronJob", "batch/v1", {"cronjob", "cronjobs", "cj"}},
}};

const KindInfo& info(OwnerKind kind) {
  for (const auto& k : kKinds)
    if (k.kind == kind) return k;
  return kKinds[0];  // unreachable: every enumerator is in kKinds
}

// The strings that come from the arguments are double-quoted: a valid name such as "true",
// "null" or "1e3" would otherwise be read back as a boolean, a null or a number.
YAML::Emitter& quoted(YAML::Emitter& out, std::string_view s) {
  return out << YAML::DoubleQuoted << std::string(s);
}

// Opens an object: apiVersion, kind and metadata name and namespace, with the metadata map left
// open for labels.
void beginObject(YAML::Emitter& out, std::string_view apiVersion, std::string_view kind,
                 const std::string& ns, const std::string& name) {
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << std::string(apiVersion);
  out << YAML::Key << "kind" << YAML::Value << std::string(kind);
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value;
  quoted(out, name);
  out << YAML::Key << "namespace" << YAML::Value;
  quoted(out, ns);
}

void quarantineEntry(YAML::Emitter& out) {
  out << YAML::BeginMap << YAML::Key << std::string(kQuarantineLabel) << YAML::Value;
  quoted(out, kQuarantineValue) << YAML::EndMap;
}

// Adds `comment` (lines, each starting with "# ") and the emitted document to `yaml`, after a
// "---" separator unless it is the first document.
bool addDocument(std::string& yaml, bool first, const std::string& comment,
                 const YAML::Emitter& out, std::string& error) {
  if (!out.good()) {
    error = "cannot emit YAML: " + out.GetLastError();
    return false;
  }
  if (!first) yaml += "---\n";
  yaml += comment;
  yaml += out.c_str();
  yaml += "\n";
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string applyCommand(bool force) {
  return std::string("kubectl apply --server-side --field-manager=") + std::string(kFieldManager) +
         (force ? " --force-conflicts" : "") + " -f -";
}

// "kube-customs respond SUB --namespace NS --name POD [--owner kind/name [--replicas N]]".
std::string kubeCustomsCommand(std::string_view sub, const PodQuarantine& q,
                               const std::optional<OwnerKind>& owner, const std::string& replicas) {
  std::string cmd = "kube-customs respond " + std::string(sub) + " --namespace " + q.namespace_ +
                    " --name " + q.pod;
  if (owner) cmd += " --owner " + std::string(info(*owner).names[0]) + "/" + q.ownerName;
  if (owner && isScalable(*owner) && !replicas.empty()) cmd += " --replicas " + replicas;
  return cmd;
}

// The owner stopped by isolate-pod, or started again by release-pod: its comment and document.
bool ownerDocument(const PodQuarantine& q, OwnerKind kind, bool release, std::string& yaml,
                   std::string& error) {
  const KindInfo& k = info(kind);
  const std::string id = std::string(k.name) + " " + q.namespace_ + "/" + q.ownerName;
  const std::string label = std::string(kQuarantineLabel) + "=" + std::string(kQuarantineValue);
  std::string comment;
  YAML::Emitter out;
  beginObject(out, k.apiVersion, k.name, q.namespace_, q.ownerName);
  out << YAML::EndMap;  // metadata
  if (isScalable(kind)) {
    out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "replicas" << YAML::Value << (release ? q.replicas : 0);
    out << YAML::EndMap;
    if (!release) {
      comment =
          "# " + id + ": spec.replicas 0. Its controller deletes its pods, " + q.pod +
          " included:\n"
          "# take the evidence first, or apply the documents above alone first (without\n"
          "# --owner). Another manager (the workload's creator, an autoscaler, kubectl scale)\n"
          "# owns spec.replicas: the apply needs --force-conflicts, which makes " +
          std::string(kFieldManager) +
          "\n"
          "# its owner. Note the count to give release-pod --replicas BEFORE applying:\n"
          "#   kubectl get " +
          std::string(k.names[0]) + " " + q.ownerName + " -n " + q.namespace_ +
          " -o jsonpath='{.spec.replicas}'\n";
      if (kind == OwnerKind::kReplicaSet)
        comment +=
            "# A ReplicaSet run by a Deployment is scaled back up by the Deployment's controller:\n"
            "# give --owner deployment/NAME for such a pod.\n";
    } else {
      comment = "# " + id + ": spec.replicas " + std::to_string(q.replicas) +
                ", the count given with --replicas (kube-customs\n"
                "# does not know the one that isolate-pod replaced). " +
                std::string(kFieldManager) +
                " stays the owner of spec.replicas;\n"
                "# a conflict here means another manager changed it since: look before forcing.\n";
    }
  } else if (kind == OwnerKind::kDaemonSet) {
    if (!release) {
      out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
      out << YAML::Key << "template" << YAML::Value << YAML::BeginMap;
      out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
      out << YAML::Key << "nodeSelector" << YAML::Value;
      quarantineEntry(out);
      out << YAML::EndMap << YAML::EndMap << YAML::EndMap;
      comment = "# " + id +
                ": a DaemonSet has no replicas; its pod template gets the\n"
                "# nodeSelector " +
                label +
                ", which no node carries (check that\n"
                "#   kubectl get nodes -l " +
                label +
                "\n"
                "# lists none), so its controller deletes its pods on every node, " +
                q.pod +
                " included:\n"
                "# take the evidence first, or apply the documents above alone first (without\n"
                "# --owner). The entry is new, owned by no other manager: no conflict.\n";
    } else {
      comment = "# " + id +
                ": applied without a nodeSelector. Server-side apply removes the\n"
                "# entry " +
                std::string(kQuarantineLabel) + " that " + std::string(kFieldManager) +
                " added; the entries\n"
                "# other managers own stay, and the DaemonSet's pods return to their nodes.\n";
    }
  } else {
    out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "suspend" << YAML::Value << !release;
    out << YAML::EndMap;
    if (kind == OwnerKind::kJob) {
      comment = release ? "# " + id + ": spec.suspend false: the Job creates its pods again.\n"
                        : "# " + id +
                              ": spec.suspend true. A suspended Job's active pods are\n"
                              "# terminated, " +
                              q.pod +
                              " included: take the evidence first, or apply the documents\n"
                              "# above alone first (without --owner). The API sets spec.suspend "
                              "when a Job is\n"
                              "# created, so another manager may own it: the apply needs "
                              "--force-conflicts.\n";
    } else {
      comment = release ? "# " + id +
                              ": spec.suspend false: the schedule runs again. A run\n"
                              "# missed while suspended may start at once when the CronJob has "
                              "no\n"
                              "# spec.startingDeadlineSeconds.\n"
                        : "# " + id +
                              ": spec.suspend true: no new Job starts. A Job already\n"
                              "# started goes on, " +
                              q.pod +
                              "'s included: to stop it, run isolate-pod again with\n"
                              "# --owner job/NAME (the Job's name is in the pod's "
                              "metadata.ownerReferences).\n"
                              "# The API sets spec.suspend when a CronJob is created, so another "
                              "manager may\n"
                              "# own it: the apply needs --force-conflicts.\n";
    }
  }
  out << YAML::EndMap;
  return addDocument(yaml, false, comment, out, error);
}

}  // namespace

bool isDnsLabel(std::string_view s) { return s.size() <= 63 && isLabelChars(s); }

bool isDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    if (!isLabelChars(s.substr(start, dot == std::string_view::npos ? dot : dot - start)))
      return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::optional<OwnerKind> ownerKindFromName(std::string_view name) {
  const std::string n = lower(name);
  if (n.empty()) return std::nullopt;
  for (const auto& k : kKinds)
    for (std::string_view candidate : k.names)
      if (candidate == n) return k.kind;
  return std::nullopt;
}

std::string_view kindName(OwnerKind kind) { return info(kind).name; }

bool isScalable(OwnerKind kind) {
  return kind == OwnerKind::kDeployment || kind == OwnerKind::kStatefulSet ||
         kind == OwnerKind::kReplicaSet || kind == OwnerKind::kReplicationController;
}

bool parseOwner(std::string_view kindSlashName, PodQuarantine& q, std::string& error) {
  const size_t slash = kindSlashName.find('/');
  if (slash == std::string_view::npos) {
    error = "--owner needs KIND/NAME, e.g. deployment/web";
    return false;
  }
  q.ownerKind = std::string(kindSlashName.substr(0, slash));
  q.ownerName = std::string(kindSlashName.substr(slash + 1));
  return true;
}

bool validate(const PodQuarantine& q, bool release, std::string& error) {
  if (!isDnsLabel(q.namespace_)) {
    error = "namespace \"" + q.namespace_ +
            "\" is not a valid Kubernetes namespace (a DNS-1123 label: at most 63 characters, "
            "lower-case letters, digits and '-', starting and ending with a letter or digit)";
    return false;
  }
  if (!isDnsSubdomain(q.pod)) {
    error = "pod name \"" + q.pod +
            "\" is not a valid Kubernetes name (a DNS-1123 subdomain: at most 253 characters, "
            "lower-case letters, digits, '-' and '.', each dot-separated part starting and "
            "ending with a letter or digit)";
    return false;
  }
  if (q.ownerKind.empty() && q.ownerName.empty()) {
    if (q.replicas >= 0) {
      error = "--replicas needs a scalable --owner";
      return false;
    }
    return true;
  }
  const auto kind = ownerKindFromName(q.ownerKind);
  if (!kind) {
    error = "unknown owner kind \"" + q.ownerKind + "\": use " + std::string(kOwnerKinds);
    return false;
  }
  if (!isDnsSubdomain(q.ownerName)) {
    error = "owner name \"" + q.ownerName +
            "\" is not a valid Kubernetes name (a DNS-1123 subdomain: at most 253 characters, "
            "lower-case letters, digits, '-' and '.', each dot-separated part starting and "
            "ending with a letter or digit)";
    return false;
  }
  if (!release && q.replicas >= 0) {
    error = "--replicas is for release-pod";
    return false;
  }
  if (release && isScalable(*kind) && q.replicas < 0) {
    error = "release-pod with --owner " + std::string(info(*kind).names[0]) +
            "/NAME needs --replicas N, the count to restore (kube-customs does not know the one "
            "isolate-pod replaced)";
    return false;
  }
  if (release && !isScalable(*kind) && q.replicas >= 0) {
    error = "--replicas applies only to a scalable owner, not to a " + std::string(kindName(*kind));
    return false;
  }
  return true;
}

bool isolatePodManifests(const PodQuarantine& q, std::string& yaml, std::string& error) {
  yaml.clear();
  if (!validate(q, false, error)) return false;
  const std::optional<OwnerKind> owner =
      q.ownerKind.empty() ? std::nullopt : ownerKindFromName(q.ownerKind);
  const bool force = owner && *owner != OwnerKind::kDaemonSet;
  const std::string label = std::string(kQuarantineLabel) + "=" + std::string(kQuarantineValue);
  const std::string policy(kQuarantinePolicy);
  std::string out =
      "# kube-customs respond isolate-pod: quarantine of pod " + q.namespace_ + "/" + q.pod +
      ".\n"
      "# Partial objects for server-side apply, as the field manager release-pod needs to undo "
      "it:\n"
      "#   " +
      kubeCustomsCommand("isolate-pod", q, owner, "") + " \\\n#     | " + applyCommand(force) +
      "\n" +
      (force ? "# (--force-conflicts: the owner's field is owned by another manager; see its "
               "document.)\n"
             : "") +
      "# The pod keeps running, for evidence: the label is only added, so the pod's controller\n"
      "# still selects it; nothing else of the pod is changed." +
      (owner ? " The owner's document, last,\n# stops the owner's pods, this one included.\n"
             : "\n") +
      "# Undo: " + kubeCustomsCommand("release-pod", q, owner, "N") + " \\\n#     | " +
      applyCommand(false) + "\n";
  if (owner && isScalable(*owner))
    out += "# (N: the replicas the owner has now; see its document.)\n";

  // 1. The namespace's deny-all NetworkPolicy.
  {
    YAML::Emitter e;
    beginObject(e, "networking.k8s.io/v1", "NetworkPolicy", q.namespace_, policy);
    e << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "app.kubernetes.io/managed-by" << YAML::Value << "kube-customs";
    e << YAML::EndMap << YAML::EndMap;  // labels, metadata
    e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "podSelector" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "matchLabels" << YAML::Value;
    quarantineEntry(e);
    e << YAML::EndMap;
    e << YAML::Key << "policyTypes" << YAML::Value << YAML::BeginSeq << "Ingress"
      << "Egress" << YAML::EndSeq;
    e << YAML::EndMap << YAML::EndMap;
    const std::string comment =
        "# NetworkPolicy " + q.namespace_ + "/" + policy +
        ": policyTypes Ingress and Egress with no rule, so\n"
        "# no traffic in or out of the pods labelled " +
        label +
        " (DNS included).\n"
        "# Enforced only by a network plugin that implements NetworkPolicy. Policies add up:\n"
        "# traffic that another NetworkPolicy selecting the pod allows is still allowed.\n";
    if (!addDocument(out, true, comment, e, error)) return false;
  }
  // 2. The pod's label.
  {
    YAML::Emitter e;
    beginObject(e, "v1", "Pod", q.namespace_, q.pod);
    e << YAML::Key << "labels" << YAML::Value;
    quarantineEntry(e);
    e << YAML::EndMap << YAML::EndMap;
    const std::string comment = "# Pod " + q.namespace_ + "/" + q.pod + ": adds the label " +
                                label + ",\n# which puts it under the policy above.\n";
    if (!addDocument(out, false, comment, e, error)) return false;
  }
  // 3. The owner stopped.
  if (owner && !ownerDocument(q, *owner, false, out, error)) return false;
  yaml = std::move(out);
  return true;
}

bool releasePodManifests(const PodQuarantine& q, std::string& yaml, std::string& error) {
  yaml.clear();
  if (!validate(q, true, error)) return false;
  const std::optional<OwnerKind> owner =
      q.ownerKind.empty() ? std::nullopt : ownerKindFromName(q.ownerKind);
  const std::string label = std::string(kQuarantineLabel) + "=" + std::string(kQuarantineValue);
  const std::string policy(kQuarantinePolicy);
  std::string out =
      "# kube-customs respond release-pod: end of the quarantine of pod " + q.namespace_ + "/" +
      q.pod +
      ".\n"
      "# Partial objects for server-side apply, with the field manager isolate-pod used:\n"
      "#   " +
      kubeCustomsCommand("release-pod", q, owner, std::to_string(q.replicas)) + " \\\n#     | " +
      applyCommand(false) +
      "\n"
      "# Server-side apply removes a field that its manager applied before and applies no\n"
      "# more, unless another manager owns it too (then the field stays and only the\n"
      "# ownership of " +
      std::string(kFieldManager) +
      " goes).\n"
      "# The NetworkPolicy " +
      policy +
      " stays: it selects no pod once the label is gone,\n"
      "# and other pods of the namespace may still be quarantined by it. To delete it once\n"
      "#   kubectl get pods -n " +
      q.namespace_ + " -l " + label +
      "\n"
      "# lists none:\n"
      "#   kubectl delete networkpolicy " +
      policy + " -n " + q.namespace_ + "\n";
  // 1. The pod without the label.
  {
    YAML::Emitter e;
    beginObject(e, "v1", "Pod", q.namespace_, q.pod);
    e << YAML::EndMap << YAML::EndMap;
    const std::string comment = "# Pod " + q.namespace_ + "/" + q.pod +
                                ": applied without labels, so server-side apply removes\n"
                                "# the label " +
                                std::string(kQuarantineLabel) + " that " +
                                std::string(kFieldManager) + " added.\n";
    if (!addDocument(out, true, comment, e, error)) return false;
  }
  // 2. The owner started again.
  if (owner && !ownerDocument(q, *owner, true, out, error)) return false;
  yaml = std::move(out);
  return true;
}

}  // namespace kc::respond
