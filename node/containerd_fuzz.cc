// libFuzzer target for what the containerd client reads from the daemon: an OCI runtime spec
// ('S' + JSON, as Container.spec carries it), a serialized event envelope ('E' + bytes), or
// both (any other first byte). Small caps, so that every cap is reached. Invariants: never a
// crash; a mapped container or decoded event keeps every string within the string cap and
// valid UTF-8, lists within theirs; the container's Pod document is valid JSON. The seed
// corpus in test/node/corpus/containerd_fuzz is replayed by an ordinary test, which links this
// file without libFuzzer.

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "node/container.h"
#include "node/containerd_client.h"

namespace {

void checkString(const std::string& s, const kc::node::ContainerdLimits& limits) {
  if (s.size() > limits.maxStringBytes) std::abort();
  if (!simdjson::validate_utf8(s.data(), s.size())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char selector = static_cast<char>(data[0]);
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  kc::node::ContainerdLimits limits;
  limits.maxStringBytes = 64;
  limits.maxLabels = 8;
  limits.maxListItems = 8;
  limits.maxSpecBytes = 64u << 10;
  limits.maxMessageBytes = 64u << 10;
  std::string error;
  if (selector != 'S') {
    kc::node::ContainerdEvent e;
    if (kc::node::parseContainerdEnvelope(bytes, limits, e, error)) {
      // Protobuf strings are bytes: only the length is promised for them (the clamp cuts on a
      // UTF-8 boundary when the bytes are UTF-8).
      for (const auto* s : {&e.type, &e.topic, &e.namespace_, &e.containerId, &e.execId, &e.image})
        if (s->size() > limits.maxStringBytes) std::abort();
      if (e.timeNano < 0 || e.pid < 0) std::abort();
    }
  }
  if (selector != 'E') {
    kc::node::Container c;
    c.runtime = kc::node::Runtime::kContainerd;
    c.id = "fuzz";
    if (kc::node::parseOciSpec(bytes, limits, c, error)) {
      checkString(c.user, limits);
      if (c.command.size() > limits.maxListItems || c.capAdd.size() > limits.maxListItems ||
          c.binds.size() > limits.maxListItems || c.devices.size() > limits.maxListItems)
        std::abort();
      for (const auto& piece : c.command) checkString(piece, limits);
      for (const auto& cap : c.capAdd) checkString(cap, limits);
      for (const auto& b : c.binds) {
        checkString(b.hostPath, limits);
        checkString(b.containerPath, limits);
      }
      const std::string pod = kc::node::podDocument(c, kc::node::classify(c));
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      if (parser.parse(pod).get(doc) != simdjson::SUCCESS) std::abort();
    }
  }
  return 0;
}
