// libFuzzer target for the audit event parser and the exec command decoder (built with
// -DKC_BUILD_FUZZERS=ON and clang). Seeds: test/controller/events/audit_event_corpus/, which
// audit_event_corpus_test also replays in the normal test run.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "controller/events/audit_event.h"
#include "controller/events/exec_command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static kc::audit::EventParser parser;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto onEvent = [](const kc::audit::Event& e) {
    if (auto req = kc::audit::parseExecRequestUri(e.requestURI)) {
      (void)kc::audit::scoreCommand(req->command);
    }
  };
  parser.parse(input, onEvent);
  parser.parseLines(input, onEvent);
  return 0;
}
