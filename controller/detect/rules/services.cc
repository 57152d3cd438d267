// service-exposed, service-external-ips: what a change of a Service adds to its exposure: a
// type that reaches outside the cluster network (NodePort, LoadBalancer), or externalIPs, which
// capture in-cluster traffic to those addresses (CVE-2020-8554). The Detector remembers each
// Service's exposure (ServiceMemory); these rules report the difference.
#include <algorithm>
#include <iterator>

#include "common/utf8.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class Services final : public RuleUnit {
 public:
  explicit Services(const RuleContext& ctx) : ctx_(ctx) {}

  void onService(const ServiceWrite& w, Findings& out) override {
    std::vector<std::string> addedIPs;
    std::set_difference(w.now.externalIPs.begin(), w.now.externalIPs.end(),
                        w.was.externalIPs.begin(), w.was.externalIPs.end(),
                        std::back_inserter(addedIPs));
    const bool newlyOutside = w.now.outside && !w.was.outside;
    if (!newlyOutside && addedIPs.empty()) return;
    const Event& e = w.e;
    const element spec = w.spec;
    const std::string_view type = str(spec, "type");

    // What it exposes: ports ("8080:30080/TCP", service port then node port) and the selector.
    std::vector<std::string> ports;
    simdjson::dom::array pa;
    if (spec.is_object() && spec["ports"].get_array().get(pa) == simdjson::SUCCESS) {
      for (element p : pa) {
        if (ports.size() >= kMaxListed) break;
        int64_t port = 0, nodePort = 0;
        if (p["port"].get_int64().get(port) != simdjson::SUCCESS) port = 0;
        if (p["nodePort"].get_int64().get(nodePort) != simdjson::SUCCESS) nodePort = 0;
        const std::string_view proto = str(p, "protocol");
        ports.push_back(std::to_string(port) +
                        (nodePort > 0 ? ":" + std::to_string(nodePort) : "") + "/" +
                        std::string(proto.empty() ? "TCP" : utf8::prefix(proto, 8)));
      }
    }
    std::vector<std::string> selector;
    simdjson::dom::object sel;
    if (spec.is_object() && spec["selector"].get_object().get(sel) == simdjson::SUCCESS) {
      for (auto kv : sel) {
        if (selector.size() >= kMaxListed) break;
        std::string_view v;
        if (kv.value.get_string().get(v) != simdjson::SUCCESS) continue;
        selector.push_back(std::string(utf8::prefix(kv.key, 253)) + "=" +
                           std::string(utf8::prefix(v, 63)));
      }
    }
    const std::string where = "service " + objectPath(e.objectRef.namespace_, e.objectRef.name);
    const std::string selects = selector.empty() ? " (no selector: its endpoints are set by hand)"
                                                 : ", selecting " + joinList(selector, ",");
    auto fill = [&](Finding& f) {
      f.kind = "Service";
      if (!type.empty()) f.details["type"] = std::string(utf8::prefix(type, 32));
      if (!ports.empty()) f.details["ports"] = joinList(ports);
      if (!selector.empty()) f.details["selector"] = joinList(selector, ",");
    };
    if (!addedIPs.empty() && !ctx_.trusted("service-external-ips", e.user.username)) {
      Finding f = ctx_.finding(e, "service-external-ips");
      fill(f);
      f.severity = Severity::kHigh;
      f.details["externalIPs"] = joinList(addedIPs);
      f.summary = f.user + " set externalIPs " + joinList(addedIPs) + " on " + where +
                  ": in-cluster traffic to those addresses now goes to its endpoints" +
                  (selector.empty() ? " (no selector: set by hand)"
                                    : " (selector " + joinList(selector, ",") + ")");
      out.push_back(std::move(f));
    }
    if (newlyOutside && !ctx_.trusted("service-exposed", e.user.username)) {
      Finding f = ctx_.finding(e, "service-exposed");
      fill(f);
      f.severity = Severity::kMedium;
      f.summary = f.user + " exposed " + where + " as " + std::string(type) +
                  (ports.empty() ? "" : " (" + joinList(ports) + ")") + selects;
      out.push_back(std::move(f));
    }
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeServices(const RuleContext& ctx) {
  return std::make_unique<Services>(ctx);
}

}  // namespace kc::audit::detect
