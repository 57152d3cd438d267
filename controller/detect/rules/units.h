#pragma once
// The makers of the rule units, one per file in this folder; the unit table
// (controller/detect/units.cc) lists them.

#include <memory>

#include "controller/detect/rule.h"

namespace kc::audit::detect {

std::unique_ptr<RuleUnit> makeEphemeralContainer(const RuleContext&);
std::unique_ptr<RuleUnit> makePrivilegedContainer(const RuleContext&);
std::unique_ptr<RuleUnit> makeHostNamespace(const RuleContext&);
std::unique_ptr<RuleUnit> makeHostPort(const RuleContext&);
std::unique_ptr<RuleUnit> makeSensitiveHostPath(const RuleContext&);
std::unique_ptr<RuleUnit> makeDangerousCapability(const RuleContext&);
std::unique_ptr<RuleUnit> makeNodeDebugPod(const RuleContext&);
std::unique_ptr<RuleUnit> makeMirrorPod(const RuleContext&);
std::unique_ptr<RuleUnit> makeSystemNamespaceWorkload(const RuleContext&);
std::unique_ptr<RuleUnit> makeSystemComponentName(const RuleContext&);
std::unique_ptr<RuleUnit> makePolicyViolation(const RuleContext&);
std::unique_ptr<RuleUnit> makeServices(const RuleContext&);
std::unique_ptr<RuleUnit> makeSessions(const RuleContext&);
std::unique_ptr<RuleUnit> makeNodesProxyAccess(const RuleContext&);
std::unique_ptr<RuleUnit> makeAnonymousRequestAllowed(const RuleContext&);
std::unique_ptr<RuleUnit> makePrivilegedImpersonation(const RuleContext&);
std::unique_ptr<RuleUnit> makeWorkloadCreated(const RuleContext&);
std::unique_ptr<RuleUnit> makeRbac(const RuleContext&);
std::unique_ptr<RuleUnit> makeServiceAccounts(const RuleContext&);
std::unique_ptr<RuleUnit> makeServiceAccountTokenStolen(const RuleContext&);
std::unique_ptr<RuleUnit> makeCertificates(const RuleContext&);
std::unique_ptr<RuleUnit> makeWorkloadImageChanged(const RuleContext&);
std::unique_ptr<RuleUnit> makeBaselineRules(const RuleContext&);
std::unique_ptr<RuleUnit> makeWebhookConfigChanged(const RuleContext&);
std::unique_ptr<RuleUnit> makeEventsDeleted(const RuleContext&);
std::unique_ptr<RuleUnit> makeUnjudgedObject(const RuleContext&);
std::unique_ptr<RuleUnit> makeAuditIdReused(const RuleContext&);

}  // namespace kc::audit::detect
