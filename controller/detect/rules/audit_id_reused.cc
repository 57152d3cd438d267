// audit-id-reused: a request sent with the auditID of an earlier, different request (the client
// chose it with the Audit-ID header), which can make audit consumers drop or merge it. The
// pipeline tells (AuditIdMemory); this rule reports.
#include "common/utf8.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class AuditIdReused final : public RuleUnit {
 public:
  explicit AuditIdReused(const RuleContext& ctx) : ctx_(ctx) {}

  void onEvent(EventClass, const Event& e, Findings& out) override {
    if (ctx_.trusted("audit-id-reused", e.user.username)) return;
    Finding f = ctx_.finding(e, "audit-id-reused");
    f.severity = Severity::kHigh;
    const std::string uri(utf8::prefix(e.requestURI, 512));
    f.summary = std::string(e.verb) + " " + uri + " by " + f.user + " was sent with auditID " +
                f.auditID +
                ", already the ID of an earlier request: the client chose it (Audit-ID header), "
                "which can make audit consumers drop or merge its request";
    out.push_back(std::move(f));
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeAuditIdReused(const RuleContext& ctx) {
  return std::make_unique<AuditIdReused>(ctx);
}

}  // namespace kc::audit::detect
