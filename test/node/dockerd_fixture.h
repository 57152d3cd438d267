#pragma once
// One private dockerd (test/node/private_dockerd.h) for a whole test binary: started at the
// first test that asks for it, stopped at exit. PRIVATE_DOCKERD_OR_SKIP(var) binds it to `var`,
// or skips the test with the reason (fails instead under CI=true or KC_REQUIRE_TOOLS=1).

#include <catch2/catch.hpp>
#include <memory>

#include "test/node/private_dockerd.h"

namespace kc::testing {

struct SharedDockerd {
  std::unique_ptr<PrivateDockerd> dockerd = std::make_unique<PrivateDockerd>();
  bool started = false;
  SharedDockerd() { started = dockerd->start(); }
};

inline SharedDockerd& sharedDockerd() {
  static SharedDockerd d;  // stopped by its destructor at exit
  return d;
}

}  // namespace kc::testing

#define PRIVATE_DOCKERD_OR_SKIP(var)                                      \
  kc::testing::SharedDockerd& daemon_ = kc::testing::sharedDockerd();     \
  if (!daemon_.started) {                                                 \
    if (kc::testing::toolsRequired())                                     \
      FAIL("no private dockerd: " << daemon_.dockerd->why()               \
                                  << " (CI=true or KC_REQUIRE_TOOLS=1)"); \
    WARN("skipped: no private dockerd: " << daemon_.dockerd->why());      \
    return;                                                               \
  }                                                                       \
  kc::testing::PrivateDockerd& var = *daemon_.dockerd
