// serviceaccount-token-stolen: a credential used from where it cannot be. A service account
// token bound to a pod (user.extra names the pod) is used from that pod, from its node (host
// network, SNAT) or not at all; one bound to a node, from that node. The addresses are learned
// from the audit events that tell them: a pod's status (status.podIP, podIPs, hostIP, hostIPs,
// written by its kubelet), a node's status (status.addresses) and the source address of the
// node's own requests (system:node:<name>: its status writes, and every request the detector
// plans for it, which is all of them with the cluster networks set). With the cluster's networks
// configured, a bound token or a system identity (system:node:*, system:kube-*, service accounts of
// system namespaces) used from outside them is reported too. An address not known is no finding.
#include <arpa/inet.h>

#include <algorithm>

#include "common/utf8.h"
#include "controller/detect/detections.h"
#include "controller/detect/rules/units.h"
#include "policies/rules.h"

namespace kc::audit::detect {
namespace {

constexpr std::string_view kRule = "serviceaccount-token-stolen";
constexpr std::string_view kPodName = "authentication.kubernetes.io/pod-name";
constexpr std::string_view kPodUid = "authentication.kubernetes.io/pod-uid";
constexpr std::string_view kNodeName = "authentication.kubernetes.io/node-name";
constexpr std::string_view kCredentialId = "authentication.kubernetes.io/credential-id";
constexpr size_t kMaxAddresses = 8;      // per pod or node
constexpr size_t kMaxNodes = 16'384;     // nodes remembered
constexpr size_t kMaxReported = 16'384;  // (credential, address) pairs already reported
constexpr size_t kMinPods = 4'096;       // pods remembered, at least

// `s` written the one way inet_ntop writes it ("2001:DB8:0::1" -> "2001:db8::1"); empty when
// it is not an IPv4 or IPv6 address.
std::string canonicalAddress(std::string_view s) {
  if (s.empty() || s.size() > 45) return {};
  char in[46], out[INET6_ADDRSTRLEN];
  std::copy(s.begin(), s.end(), in);
  in[s.size()] = '\0';
  unsigned char bytes[16];
  const int family = s.find(':') == std::string_view::npos ? AF_INET : AF_INET6;
  if (inet_pton(family, in, bytes) != 1 || !inet_ntop(family, bytes, out, sizeof out)) return {};
  return out;
}

bool loopback(std::string_view address) { return startsWith(address, "127.") || address == "::1"; }

void addAddress(std::vector<std::string>& v, std::string_view address) {
  std::string a = canonicalAddress(address);
  if (!a.empty() && v.size() < kMaxAddresses) addUnique(v, std::move(a));
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The strings of `obj[key]`, or of each object's `field` in the array `obj[key]`.
void readAddresses(element obj, std::string_view key, std::string_view field,
                   std::vector<std::string>& out) {
  simdjson::dom::array items;
  if (!obj.is_object() || obj[key].get_array().get(items) != simdjson::SUCCESS) return;
  for (element item : items) addAddress(out, str(item, field));
}

struct PodAddresses {
  std::string uid;
  std::vector<std::string> pod, host;  // status.podIPs, status.hostIPs
};

struct NodeAddresses {
  std::vector<std::string> status;  // status.addresses
  std::vector<std::string> seen;    // the node's own requests came from
};

class ServiceAccountTokenStolen final : public RuleUnit {
 public:
  explicit ServiceAccountTokenStolen(const RuleContext& ctx)
      : ctx_(ctx), pods_(std::max(ctx.options().maxTrackedObjects / 2, kMinPods)) {}

  void onEvent(EventClass, const Event& e, Findings& out) override {
    learn(e);
    if (e.sourceIPs.empty()) return;
    const std::string from = canonicalAddress(e.sourceIPs[0]);
    const std::string_view user = e.user.username;
    if (from.empty() || loopback(from) || ctx_.trusted(kRule, user)) return;

    const std::string_view podName = e.user.extraValue(kPodName);
    const std::string_view nodeName = e.user.extraValue(kNodeName);
    const std::vector<policy::IpBlock>& networks = ctx_.options().clusterNetworks;
    if (!networks.empty() && (boundToken(e.user) || systemCredential(user)) &&
        std::none_of(networks.begin(), networks.end(),
                     [&](const policy::IpBlock& b) { return policy::ipInBlock(from, b); })) {
      return report(e, from, "outside the cluster networks", {}, out);
    }
    if (!podName.empty()) {
      // system:serviceaccount:<namespace>:<name>
      const std::string_view rest = user.substr(std::min(user.size(), kSaPrefix.size()));
      const std::string key = std::string(utf8::prefix(rest.substr(0, rest.find(':')), 253)) + "/" +
                              std::string(utf8::prefix(podName, 253));
      const PodAddresses* pod = pods_.find(key);
      const std::string_view podUid = e.user.extraValue(kPodUid);
      // Not known, or known as another pod of the same name: no finding.
      if (!startsWith(user, kSaPrefix) || !pod || pod->pod.empty() ||
          (!podUid.empty() && !pod->uid.empty() && pod->uid != podUid))
        return;
      std::vector<std::string> allowed = pod->pod;
      for (const auto& a : pod->host) addUnique(allowed, a);
      if (const NodeAddresses* node =
              nodeName.empty() ? nullptr : nodes_.find(std::string(nodeName)))
        addAll(allowed, *node);
      if (!contains(allowed, from))
        report(e, from, "not the address of pod " + key + " it is bound to", allowed, out);
      return;
    }
    if (!nodeName.empty()) {
      const NodeAddresses* node = nodes_.find(std::string(utf8::prefix(nodeName, 253)));
      if (!node) return;
      std::vector<std::string> allowed;
      addAll(allowed, *node);
      if (!allowed.empty() && !contains(allowed, from))
        report(e, from,
               "not an address of node " + std::string(utf8::prefix(nodeName, 253)) +
                   " it is bound to",
               allowed, out);
    }
  }

 private:
  static constexpr std::string_view kSaPrefix = "system:serviceaccount:";

  // Identities of the system: the nodes, the control plane's components, the service accounts
  // of system namespaces, what the presets add.
  bool systemCredential(std::string_view user) const {
    return startsWith(user, "system:node:") || startsWith(user, "system:kube-") ||
           ctx_.systemIdentity(user);
  }

  static void addAll(std::vector<std::string>& v, const NodeAddresses& node) {
    for (const auto& a : node.status) addUnique(v, a);
    for (const auto& a : node.seen) addUnique(v, a);
  }

  // The addresses this event tells.
  void learn(const Event& e) {
    const std::string_view res = e.objectRef.resource, sub = e.objectRef.subresource;
    if (e.hasObjectRef && success(e.responseCode) && (sub == "status" || sub.empty()) &&
        e.objectRef.apiGroup.empty() && (res == "pods" || res == "nodes")) {
      // The admitted object, else what was sent (the kubelet's status patch names the
      // addresses too).
      element obj = e.hasResponseObject ? e.responseObject : e.requestObject;
      element status;
      if (!e.truncated && obj.is_object() && obj["status"].get(status) == simdjson::SUCCESS &&
          status.is_object()) {
        if (res == "pods")
          learnPod(e, obj, status);
        else
          learnNode(e, status);
      }
    }
    // A node's own requests come from its address (inside the cluster networks, when known).
    const std::string_view user = e.user.username;
    if (startsWith(user, "system:node:") && !e.sourceIPs.empty()) {
      const std::string from = canonicalAddress(e.sourceIPs[0]);
      const std::vector<policy::IpBlock>& networks = ctx_.options().clusterNetworks;
      if (from.empty() || loopback(from)) return;
      if (!networks.empty() &&
          std::none_of(networks.begin(), networks.end(),
                       [&](const policy::IpBlock& b) { return policy::ipInBlock(from, b); }))
        return;
      NodeAddresses& node = nodes_.get(
          std::string(utf8::prefix(user.substr(std::string_view("system:node:").size()), 253)));
      if (node.seen.size() < kMaxAddresses) addUnique(node.seen, from);
    }
  }

  void learnPod(const Event& e, element obj, element status) {
    PodAddresses a;
    if (!str(status, "podIP").empty()) addAddress(a.pod, str(status, "podIP"));
    readAddresses(status, "podIPs", "ip", a.pod);
    if (a.pod.empty()) return;  // not running yet, or the patch did not touch the addresses
    addAddress(a.host, str(status, "hostIP"));
    readAddresses(status, "hostIPs", "ip", a.host);
    element md;
    std::string_view ns = e.objectRef.namespace_, name = e.objectRef.name;
    if (obj["metadata"].get(md) == simdjson::SUCCESS && md.is_object()) {
      a.uid = std::string(utf8::prefix(str(md, "uid"), 64));
      if (ns.empty()) ns = str(md, "namespace");
      if (name.empty()) name = str(md, "name");
    }
    if (a.uid.empty()) a.uid = std::string(utf8::prefix(e.objectRef.uid, 64));
    if (ns.empty() || name.empty()) return;
    // The pod's addresses now: a pod re-created under its name has new ones.
    pods_.put(std::string(utf8::prefix(ns, 253)) + "/" + std::string(utf8::prefix(name, 253)),
              std::move(a));
  }

  void learnNode(const Event& e, element status) {
    std::vector<std::string> addresses;
    readAddresses(status, "addresses", "address", addresses);
    if (addresses.empty() || e.objectRef.name.empty()) return;
    nodes_.get(std::string(utf8::prefix(e.objectRef.name, 253))).status = std::move(addresses);
  }

  void report(const Event& e, const std::string& from, const std::string& why,
              const std::vector<std::string>& allowed, Findings& out) {
    const std::string_view credentialId = e.user.extraValue(kCredentialId);
    const std::string credential =
        std::string(utf8::prefix(e.user.username, 256)) + "\x1f" +
        std::string(
            utf8::prefix(!credentialId.empty() ? credentialId : e.user.extraValue(kPodUid), 128));
    // Once per credential and address: a stolen token makes many requests.
    const std::string key = credential + "\x1f" + from;
    if (reported_.find(key)) return;
    reported_.put(key, true);
    Finding f = ctx_.finding(e, kRule);
    f.severity = Severity::kHigh;
    f.details["reason"] = why;
    if (!allowed.empty()) f.details["expectedAddresses"] = joinList(allowed);
    for (std::string_view k : {kPodName, kNodeName, kCredentialId}) {
      if (const std::string_view v = e.user.extraValue(k); !v.empty())
        f.details[std::string(k.substr(k.rfind('/') + 1))] = std::string(utf8::prefix(v, 253));
    }
    f.summary = f.user + " used from " + from + ", " + why;
    out.push_back(std::move(f));
  }

  const RuleContext& ctx_;
  BoundedMap<PodAddresses> pods_;  // "namespace/name"
  BoundedMap<NodeAddresses> nodes_{kMaxNodes};
  BoundedMap<bool> reported_{kMaxReported};
};

}  // namespace

std::unique_ptr<RuleUnit> makeServiceAccountTokenStolen(const RuleContext& ctx) {
  return std::make_unique<ServiceAccountTokenStolen>(ctx);
}

}  // namespace kc::audit::detect
