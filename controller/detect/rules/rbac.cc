// rbac-dangerous-grant, rbac-privileged-binding, system-rbac-changed: RBAC that opens the door.
// A Role or ClusterRole that grants a way into pods (exec, attach, portforward), into nodes
// (nodes/proxy), to other identities (impersonate, escalate, bind), cluster-wide secrets or
// everything; a binding that hands cluster-admin, the system:masters group or such a role to
// someone; a change to the built-in system: roles and bindings. The unit remembers, bounded,
// what each role grants and whom each binding names, so that a change reports what it adds and
// a binding to a role seen earlier says what that role grants.
#include <algorithm>

#include "common/utf8.h"
#include "controller/detect/bounded_map.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

constexpr std::string_view kGrantRule = "rbac-dangerous-grant";
constexpr std::string_view kBindingRule = "rbac-privileged-binding";
constexpr std::string_view kSystemRule = "system-rbac-changed";

// The strings of a JSON array of strings (at most `cap`, each bounded).
std::vector<std::string> strings(element arr, size_t cap = 64) {
  std::vector<std::string> out;
  simdjson::dom::array a;
  if (arr.get_array().get(a) != simdjson::SUCCESS) return out;
  for (element v : a) {
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS) continue;
    if (out.size() >= cap) break;
    out.emplace_back(utf8::prefix(s, 253));
  }
  return out;
}

bool has(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// What one PolicyRule grants that opens a way in, as short phrases ("pods/exec",
// "impersonate"), with its severity for a ClusterRole.
struct Grant {
  std::string what;
  Severity severity;
};

void grantsOf(element rule, bool clusterWide, std::vector<Grant>& out) {
  const std::vector<std::string> groups = strings(rule["apiGroups"]);
  const std::vector<std::string> resources = strings(rule["resources"]);
  const std::vector<std::string> verbs = strings(rule["verbs"]);
  if (verbs.empty()) return;
  const bool anyVerb = has(verbs, "*");
  const bool anyGroup = has(groups, "*");
  const bool anyResource = has(resources, "*");
  auto verb = [&](std::initializer_list<std::string_view> vs) {
    if (anyVerb) return true;
    for (auto v : vs) {
      if (has(verbs, v)) return true;
    }
    return false;
  };
  auto inGroup = [&](std::string_view g) { return anyGroup || has(groups, g); };
  // A resource (or subresource "pods/exec") named, or covered by "*" or "pods/*".
  auto resource = [&](std::string_view r) {
    if (anyResource || has(resources, r)) return true;
    const size_t slash = r.find('/');
    return slash != std::string_view::npos &&
           has(resources, std::string(r.substr(0, slash)) + "/*");
  };
  auto add = [&](std::string what, Severity s) {
    if (std::none_of(out.begin(), out.end(), [&](const Grant& g) { return g.what == what; }))
      out.push_back({std::move(what), s});
  };
  if (anyVerb && anyResource && anyGroup) {
    add("everything (verbs, resources and API groups *)", Severity::kCritical);
    return;
  }
  if (inGroup("")) {
    for (std::string_view sub : {"pods/exec", "pods/attach", "pods/portforward"}) {
      if (resource(sub) && verb({"create", "get"})) add(std::string(sub), Severity::kHigh);
    }
    if (resource("nodes/proxy") && verb({"get", "create", "update", "patch"}))
      add("nodes/proxy", Severity::kHigh);
    if (clusterWide && resource("secrets") && verb({"get", "list", "watch"}))
      add("secrets read, cluster-wide", Severity::kHigh);
  }
  if (inGroup("rbac.authorization.k8s.io")) {
    if (has(verbs, "escalate") || (anyVerb && (resource("roles") || resource("clusterroles"))))
      add("escalate", Severity::kHigh);
    if (has(verbs, "bind") || (anyVerb && (resource("roles") || resource("clusterroles"))))
      add("bind", Severity::kHigh);
  }
  if (has(verbs, "impersonate") ||
      (anyVerb && (inGroup("") || inGroup("authentication.k8s.io")) &&
       (resource("users") || resource("groups") || resource("serviceaccounts"))))
    add("impersonate", Severity::kHigh);
  if (anyVerb) add("wildcard verbs", Severity::kHigh);
  if (anyResource) add("wildcard resources", Severity::kHigh);
}

// Roles whose grants everyone knows: the built-in user-facing ClusterRoles.
std::vector<Grant> builtInGrants(std::string_view kind, std::string_view name) {
  if (kind != "ClusterRole") return {};
  if (name == "cluster-admin")
    return {{"everything (verbs, resources and API groups *)", Severity::kCritical}};
  if (name == "admin" || name == "edit")
    return {{"pods/exec", Severity::kHigh},
            {"pods/attach", Severity::kHigh},
            {"pods/portforward", Severity::kHigh}};
  return {};
}

std::string joinGrants(const std::vector<Grant>& gs) {
  std::vector<std::string> names;
  for (const auto& g : gs) names.push_back(g.what);
  return joinList(names);
}

class Rbac final : public RuleUnit {
 public:
  explicit Rbac(const RuleContext& ctx) : ctx_(ctx) {}

  void onEvent(EventClass, const Event& e, Findings& out) override {
    const std::string_view res = e.objectRef.resource;
    const bool role = res == "roles" || res == "clusterroles";
    const bool clusterWide = res == "clusterroles" || res == "clusterrolebindings";
    const std::string_view kind = res == "roles"          ? "Role"
                                  : res == "clusterroles" ? "ClusterRole"
                                  : res == "rolebindings" ? "RoleBinding"
                                                          : "ClusterRoleBinding";
    const std::string name(utf8::prefix(e.objectRef.name, 253));
    const std::string key = std::string(kind) + "/" +
                            std::string(utf8::prefix(e.objectRef.namespace_, 253)) + "/" + name;
    const bool del = e.verb == "delete" || e.verb == "deletecollection";
    const element obj = judgedObject(e);
    systemChange(e, kind, name, clusterWide, del, obj, out);
    if (del) {
      forget(key);
      return;
    }
    if (!obj.is_object()) return;
    if (role) {
      roleWritten(e, kind, key, clusterWide, obj, out);
    } else {
      bindingWritten(e, kind, key, obj, out);
    }
  }

 private:
  // The built-in roles and bindings (named system:*, or labelled as the API server's defaults)
  // are the API server's to reconcile; anyone else changing them is reported.
  void systemChange(const Event& e, std::string_view kind, const std::string& name,
                    bool clusterWide, bool del, element obj, Findings& out) {
    if (!clusterWide) return;
    element labels;
    bool defaults = false;
    if (obj.is_object() && obj["metadata"]["labels"].get(labels) == simdjson::SUCCESS)
      defaults = str(labels, "kubernetes.io/bootstrapping") == "rbac-defaults";
    if (!startsWith(name, "system:") && !defaults) return;
    const std::string_view user = e.user.username;
    if (ctx_.systemIdentity(user) || ctx_.trusted(kSystemRule, user)) return;
    Finding f = ctx_.finding(e, kSystemRule);
    f.kind = std::string(kind);
    const bool create = e.verb == "create";
    f.severity = create ? Severity::kMedium : Severity::kHigh;
    f.summary = f.user +
                (del      ? " deleted built-in "
                 : create ? " created "
                          : " changed built-in ") +
                std::string(kind) + " " + name +
                (create ? ", named like the API server's own" : "") +
                (del ? ": the API server recreates it at its next start, until then what it "
                       "granted is gone"
                     : "");
    out.push_back(std::move(f));
  }

  void roleWritten(const Event& e, std::string_view kind, const std::string& key, bool clusterWide,
                   element obj, Findings& out) {
    std::vector<Grant> now;
    simdjson::dom::array rules;
    if (obj["rules"].get_array().get(rules) == simdjson::SUCCESS) {
      size_t n = 0;
      for (element r : rules) {
        if (++n > 256) break;
        grantsOf(r, clusterWide, now);
      }
    }
    // What this write adds, against the role as last seen (all of it for a new role, or one
    // not seen before).
    const std::vector<Grant>* was = e.verb == "create" ? nullptr : roles_.find(key);
    std::vector<Grant> added;
    for (const auto& g : now) {
      if (!was ||
          std::none_of(was->begin(), was->end(), [&](const Grant& o) { return o.what == g.what; }))
        added.push_back(g);
    }
    roles_.put(key, now);
    if (added.empty() || ctx_.trusted(kGrantRule, e.user.username)) return;
    Finding f = ctx_.finding(e, kGrantRule);
    f.kind = std::string(kind);
    f.severity = Severity::kLow;
    for (const auto& g : added) {
      // A namespaced Role grants inside its namespace only: one step lower.
      const Severity s = clusterWide                         ? g.severity
                         : g.severity == Severity::kCritical ? Severity::kHigh
                                                             : Severity::kMedium;
      f.severity = maxSeverity(f.severity, s);
    }
    f.details["grants"] = joinGrants(added);
    f.details["role"] = std::string(kind) + " " + objectPath(f.namespace_, f.name);
    f.summary = f.user + (e.verb == "create" ? " created " : " changed ") + f.details["role"] +
                " to grant " + f.details["grants"];
    out.push_back(std::move(f));
  }

  void bindingWritten(const Event& e, std::string_view kind, const std::string& key, element obj,
                      Findings& out) {
    element ref;
    if (obj["roleRef"].get(ref) != simdjson::SUCCESS || !ref.is_object()) return;
    const std::string refKind(utf8::prefix(str(ref, "kind"), 32));
    const std::string refName(utf8::prefix(str(ref, "name"), 253));
    std::vector<std::string> subjects;
    bool masters = false, anonymous = false;
    simdjson::dom::array subs;
    if (obj["subjects"].get_array().get(subs) == simdjson::SUCCESS) {
      for (element s : subs) {
        const std::string_view sk = str(s, "kind"), sn = str(s, "name");
        if (sk == "Group" && sn == "system:masters") masters = true;
        if ((sk == "User" && sn == "system:anonymous") ||
            (sk == "Group" && sn == "system:unauthenticated"))
          anonymous = true;
        if (subjects.size() >= kMaxListed) continue;
        std::string who = std::string(utf8::prefix(sk, 32)) + " ";
        if (sk == "ServiceAccount")
          who += std::string(utf8::prefix(str(s, "namespace"), 253)) + "/";
        who += std::string(utf8::prefix(sn, 253));
        subjects.push_back(std::move(who));
      }
    }
    std::sort(subjects.begin(), subjects.end());
    // Reported when new, or when a change adds subjects.
    const std::vector<std::string>* was = e.verb == "create" ? nullptr : bindings_.find(key);
    std::vector<std::string> added;
    for (const auto& s : subjects) {
      if (!was || !has(*was, s)) added.push_back(s);
    }
    bindings_.put(key, subjects);
    if (added.empty()) return;

    // What the role grants: the built-in ones by name, the others as last seen here.
    const bool clusterBinding = kind == "ClusterRoleBinding";
    std::vector<Grant> grants = builtInGrants(refKind, refName);
    if (grants.empty()) {
      const std::string roleKey =
          refKind + "/" +
          (refKind == "Role" ? std::string(utf8::prefix(e.objectRef.namespace_, 253)) : "") + "/" +
          refName;
      if (const std::vector<Grant>* g = roles_.find(roleKey)) grants = *g;
    }
    Severity severity = Severity::kInfo;
    for (const auto& g : grants) {
      const Severity s = clusterBinding                      ? g.severity
                         : g.severity == Severity::kCritical ? Severity::kHigh
                                                             : Severity::kMedium;
      severity = maxSeverity(severity, s);
    }
    // Binding admin or edit in one namespace is how teams get their namespace: not reported.
    if (!clusterBinding && refKind == "ClusterRole" && (refName == "admin" || refName == "edit"))
      severity = Severity::kInfo;
    std::vector<std::string> why;
    if (!grants.empty() && severity != Severity::kInfo)
      why.push_back(refKind + " " + refName + " grants " + joinGrants(grants));
    if (masters) {
      severity = Severity::kCritical;
      why.push_back("group system:masters (every permission, past all RBAC)");
    }
    if (anonymous) {
      severity = maxSeverity(severity, grants.empty() ? Severity::kHigh : Severity::kCritical);
      why.push_back("unauthenticated callers");
    }
    if (severity == Severity::kInfo || ctx_.trusted(kBindingRule, e.user.username)) return;
    Finding f = ctx_.finding(e, kBindingRule);
    f.kind = std::string(kind);
    f.severity = severity;
    f.details["role"] = refKind + " " + refName;
    if (!grants.empty()) f.details["grants"] = joinGrants(grants);
    f.details["subjects"] = joinList(added);
    f.summary = f.user + " bound " + refKind + " " + refName + " to " + joinList(added) +
                (clusterBinding ? " cluster-wide" : " in namespace " + f.namespace_) + " (" +
                std::string(kind) + " " + f.name + "): " + joinList(why, "; ");
    out.push_back(std::move(f));
  }

  void forget(const std::string& key) {
    roles_.erase(key);
    bindings_.erase(key);
  }

  static constexpr size_t kMaxRemembered = 16'384;
  const RuleContext& ctx_;
  BoundedMap<std::vector<Grant>> roles_{kMaxRemembered};           // "Kind/ns/name"
  BoundedMap<std::vector<std::string>> bindings_{kMaxRemembered};  // sorted subjects
};

}  // namespace

std::unique_ptr<RuleUnit> makeRbac(const RuleContext& ctx) { return std::make_unique<Rbac>(ctx); }

}  // namespace kc::audit::detect
