// Tests of the system-component-name rule and of matchSystemComponent.
#include <array>
#include <catch2/catch.hpp>
#include <random>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("ObjectsNamedLikeSystemComponents", "[detections]") {
  Detector d(DetectorOptions{});
  auto create = [&](const std::string& ns, const std::string& name, const std::string& user,
                    const std::string& id) { return createDeployment(d, ns, name, user, id); };
  auto fs = create("default", "kube-proxy", "alice@example.com", "s4");
  REQUIRE(rule(fs, "system-component-name") != nullptr);
  CHECK(rule(fs, "system-component-name")->severity == Severity::kMedium);
  fs = create("default", "kube-proxv", "alice@example.com", "s5");
  REQUIRE(rule(fs, "system-component-name") != nullptr);
  CHECK(rule(fs, "system-component-name")->severity == Severity::kHigh);
  CHECK(rule(fs, "system-component-name")->technique == "T1036.005");
  CHECK(create("default", "storefront", "alice@example.com", "s6").empty());

  CHECK(matchSystemComponent("coredns-5d78c9869d-abcde").exact);
  CHECK(matchSystemComponent("core-dns").component == "coredns");
  CHECK_FALSE(matchSystemComponent("core-dns").exact);
  CHECK(matchSystemComponent("kube-prometheus-stack").component.empty());
  CHECK(matchSystemComponent("etcd-0").exact);
}

// matchSystemComponent as first written (every prefix against every component, full
// Levenshtein): the reference the fast version must agree with.
ComponentMatch referenceComponentMatch(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kComponents = {"kube-apiserver",
                                                                   "kube-controller-manager",
                                                                   "kube-scheduler",
                                                                   "kube-proxy",
                                                                   "coredns",
                                                                   "kube-dns",
                                                                   "etcd",
                                                                   "cloud-controller-manager",
                                                                   "konnectivity-agent",
                                                                   "kube-addon-manager"};
  auto levenshtein = [](std::string_view a, std::string_view b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  ComponentMatch best;
  std::vector<std::string_view> prefixes;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '-') prefixes.push_back(name.substr(0, i));
  }
  for (auto c : kComponents) {
    for (auto p : prefixes) {
      if (p == c) return ComponentMatch{std::string(c), true};
    }
  }
  for (auto c : kComponents) {
    if (c.size() < 6) continue;
    const size_t threshold = c.size() <= 8 ? 1 : 2;
    for (auto p : prefixes) {
      if (p.size() + threshold < c.size() || p.size() > c.size() + threshold) continue;
      size_t d = levenshtein(p, c);
      if (d > 0 && d <= threshold && best.component.empty()) best.component = std::string(c);
    }
  }
  return best;
}

TEST_CASE("SystemComponentMatchAgreesWithTheReference", "[detections]") {
  const std::vector<std::string> components = {"kube-apiserver",
                                               "kube-controller-manager",
                                               "kube-scheduler",
                                               "kube-proxy",
                                               "coredns",
                                               "kube-dns",
                                               "etcd",
                                               "cloud-controller-manager",
                                               "konnectivity-agent",
                                               "kube-addon-manager",
                                               "kube",
                                               "web",
                                               "nginx",
                                               "core",
                                               "dns"};
  std::mt19937 rng(11);
  const std::string letters = "abcdeknopstuy-";
  auto mutate = [&](std::string s) {
    const int edits = static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !s.empty(); ++k) {
      const size_t at = rng() % (s.size() + 1);
      const char ch = letters[rng() % letters.size()];
      switch (rng() % 3) {
        case 0:
          s.insert(s.begin() + static_cast<long>(at), ch);
          break;
        case 1:
          if (at < s.size()) s.erase(at, 1);
          break;
        default:
          if (at < s.size()) s[at] = ch;
          break;
      }
    }
    return s;
  };
  size_t exact = 0, imitations = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string name = mutate(components[rng() % components.size()]);
    if (rng() % 2) name += "-" + mutate(components[rng() % components.size()]);
    if (rng() % 2) name += "-5d78c9869d";
    if (rng() % 3 == 0) name += "-x7k2p";
    const ComponentMatch want = referenceComponentMatch(name);
    const ComponentMatch got = matchSystemComponent(name);
    INFO(name);
    REQUIRE(got.component == want.component);
    REQUIRE(got.exact == want.exact);
    if (want.exact)
      ++exact;
    else if (!want.component.empty())
      ++imitations;
  }
  for (std::string name : {"", "-", "--", "kube-proxy", "kube-prox", "kube-proxyy-1", "-coredns",
                           "etcd", "etc", "etcdd-0", "coredns-", "core-dns-abc"}) {
    INFO(name);
    CHECK(matchSystemComponent(name).component == referenceComponentMatch(name).component);
    CHECK(matchSystemComponent(name).exact == referenceComponentMatch(name).exact);
  }
  CHECK(exact > 1000);
  CHECK(imitations > 1000);
}

// A component's exact name outside kube-system is medium, a look-alike name anywhere high; names
// that only share a word with a component (kube-prometheus-stack, dns-proxy) are not reported;
// an application bundling its own etcd can be trusted.
TEST_CASE("SystemComponentNameLookAlikesAndTrustedIdentities", "[detections]") {
  auto create = [](Detector& d, const std::string& ns, const std::string& name,
                   const std::string& user) {
    json dep = deployment(ns, name, "uid-" + ns + "-" + name, "quay.io/coreos/etcd:v3.5.12");
    Ev e;
    e.auditID = "a-" + ns + "-" + name;
    e.uri = "/apis/apps/v1/namespaces/" + ns + "/deployments";
    e.user = user;
    e.resource = "deployments";
    e.apiGroup = "apps";
    e.ns = ns;
    e.name = name;
    e.requestObject = dep;
    e.responseObject = dep;
    return feed(d, e.str());
  };
  Detector d(DetectorOptions{});
  auto fs = create(d, "monitoring", "etcd", "alice@example.com");
  REQUIRE(rules(fs) == std::vector<std::string>{"system-component-name"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].details.at("what") == "etcd");
  fs = create(d, "monitoring", "kube-schedu1er-agent", "alice@example.com");
  REQUIRE(rules(fs) == std::vector<std::string>{"system-component-name"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("what") == "kube-scheduler");
  CHECK(fs[0].summary ==
        "Deployment monitoring/kube-schedu1er-agent imitates the name of system component: "
        "kube-scheduler");

  CHECK(create(d, "monitoring", "kube-prometheus-stack", "alice@example.com").empty());
  CHECK(create(d, "monitoring", "dns-proxy", "alice@example.com").empty());

  DetectorOptions o;
  o.trustedIdentities["system-component-name"] = {"system:serviceaccount:platform:*"};
  Detector trusting(o);
  CHECK(create(trusting, "apisix", "etcd", "system:serviceaccount:platform:deployer").empty());
  CHECK(rules(create(trusting, "apisix", "etcd-2", "alice@example.com")) ==
        std::vector<std::string>{"system-component-name"});
}

// Every component docs/detections.md names: its exact name and a `<name>-...` name match it
// exactly, and the look-alikes the doc gives match it as imitations.
TEST_CASE("SystemComponentsAsDocumented", "[detections]") {
  for (const std::string c :
       {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns",
        "kube-dns", "etcd", "cloud-controller-manager", "konnectivity-agent",
        "kube-addon-manager"}) {
    INFO(c);
    CHECK(matchSystemComponent(c).component == c);
    CHECK(matchSystemComponent(c).exact);
    CHECK(matchSystemComponent(c + "-7d9c5b-x2k8p").component == c);
    CHECK(matchSystemComponent(c + "-7d9c5b-x2k8p").exact);
  }
  CHECK(matchSystemComponent("kube-proxv").component == "kube-proxy");
  CHECK_FALSE(matchSystemComponent("kube-proxv").exact);
  CHECK(matchSystemComponent("core-dns").component == "coredns");
  CHECK_FALSE(matchSystemComponent("core-dns").exact);
}

}  // namespace
}  // namespace kc::audit
