#pragma once
// The built-in policies, as the webhook loads them, for the node door's tests: the same set in
// every test of a binary.

#include <catch2/catch.hpp>
#include <memory>

#include "policies/loader.h"
#include "policies/store/policy_store.h"

namespace kc::testing {

inline std::shared_ptr<const kc::policy::PolicySet> builtInPolicies() {
  static const auto loaded = kc::policy::loadPolicies(kc::policy::embeddedDefaultPolicies());
  REQUIRE(loaded.ok());
  return loaded.policies;
}

}  // namespace kc::testing
