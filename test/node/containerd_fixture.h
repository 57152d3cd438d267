#pragma once
// One private containerd (test/node/private_containerd.h) for a whole test binary: started at
// the first test that asks for it, stopped at exit. PRIVATE_CONTAINERD_OR_SKIP(var) binds it to
// `var`, or skips the test with the reason (fails instead under CI=true or KC_REQUIRE_TOOLS=1).

#include <catch2/catch.hpp>
#include <memory>

#include "test/node/private_containerd.h"
#include "test/node/private_dockerd.h"

namespace kc::testing {

struct SharedContainerd {
  std::unique_ptr<PrivateContainerd> containerd = std::make_unique<PrivateContainerd>();
  bool started = false;
  SharedContainerd() { started = containerd->start(); }
};

inline SharedContainerd& sharedContainerd() {
  static SharedContainerd d;  // stopped by its destructor at exit
  return d;
}

}  // namespace kc::testing

#define PRIVATE_CONTAINERD_OR_SKIP(var)                                      \
  kc::testing::SharedContainerd& daemon_ = kc::testing::sharedContainerd();  \
  if (!daemon_.started) {                                                    \
    if (kc::testing::toolsRequired())                                        \
      FAIL("no private containerd: " << daemon_.containerd->why()            \
                                     << " (CI=true or KC_REQUIRE_TOOLS=1)"); \
    WARN("skipped: no private containerd: " << daemon_.containerd->why());   \
    return;                                                                  \
  }                                                                          \
  kc::testing::PrivateContainerd& var = *daemon_.containerd
