// libFuzzer target for what the Docker Engine API client reads from the daemon's socket: an
// event line ('E' + line), a container inspect answer ('C' + JSON), or both (any other first
// byte). Small caps, so that every cap is reached. Invariants: never a crash; a decoded event
// or container keeps every string within the string cap and valid UTF-8, and lists and labels
// within theirs; the container's Pod document is valid JSON. The seed corpus in
// test/node/corpus/docker_fuzz is replayed by an ordinary test, which links this file without
// libFuzzer.

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "node/container.h"
#include "node/docker_client.h"

namespace {

void checkString(const std::string& s, const kc::node::DockerLimits& limits) {
  if (s.size() > limits.maxStringBytes) std::abort();
  if (!simdjson::validate_utf8(s.data(), s.size())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char selector = static_cast<char>(data[0]);
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  kc::node::DockerLimits limits;
  limits.maxStringBytes = 64;
  limits.maxLabels = 8;
  limits.maxListItems = 8;
  limits.maxEventLineBytes = 16u << 10;
  limits.maxBodyBytes = 64u << 10;
  std::string error;
  if (selector != 'C') {
    kc::node::DockerEvent e;
    if (kc::node::parseDockerEvent(text, limits, e, error)) {
      for (const auto* s : {&e.action, &e.containerId, &e.execId, &e.image, &e.name, &e.exitCode})
        checkString(*s, limits);
      if (e.containerId.empty() || e.timeNano <= 0) std::abort();
      if (e.attributes.size() > limits.maxLabels) std::abort();
      for (const auto& [k, v] : e.attributes) {
        checkString(k, limits);
        checkString(v, limits);
      }
    }
  }
  if (selector != 'E') {
    kc::node::Container c;
    if (kc::node::parseContainerInspect(text, limits, c, error)) {
      for (const auto* s : {&c.id, &c.name, &c.image, &c.imageId, &c.user, &c.startedAt})
        checkString(*s, limits);
      if (c.id.empty()) std::abort();
      if (c.labels.size() > limits.maxLabels || c.command.size() > limits.maxListItems ||
          c.capAdd.size() > limits.maxListItems || c.binds.size() > limits.maxListItems ||
          c.devices.size() > limits.maxListItems)
        std::abort();
      for (const auto& piece : c.command) checkString(piece, limits);
      const std::string pod = kc::node::podDocument(c, kc::node::classify(c));
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      if (parser.parse(pod).get(doc) != simdjson::SUCCESS) std::abort();
    }
  }
  return 0;
}
