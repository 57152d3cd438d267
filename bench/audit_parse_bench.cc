// Audit event parsing throughput, side by side with simdjson's raw parse of the same file.
//
//   audit_parse_bench FILE.jsonl [ROUNDS] [--stream-only | --raw-only]
//
// Baselines: simdjson DOM parse_many over the whole buffer (the raw parse), and a DOM parse
// per line. Ours: kc::audit::EventParser::parseLines, which parses the lines (parse_many, with
// a per-line fallback around bad lines) and decodes the compact Event view (every field the
// detections use) of each. Best of ROUNDS. Last, the streaming path the consumer uses:
// FileSource reading the file in 1 MiB chunks with EventParser on each batch, whose memory
// stays bounded whatever the file size (run with --stream-only to see its peak RSS alone).

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string_view>

#include "controller/events/audit_event.h"
#include "controller/ingest/file_source.h"

namespace {

struct Result {
  double seconds = 1e30;
  uint64_t count = 0;
};

Result best(int rounds, const std::function<uint64_t()>& run) {
  Result r;
  for (int i = 0; i < rounds; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t c = run();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < r.seconds) r = {s, c};
  }
  return r;
}

void report(const char* name, const Result& r, size_t bytes, double baseline) {
  std::printf("%-34s %10.0f events/s %9.1f MB/s %7.1f%% of raw  (%llu events, %.3f s)\n", name,
              r.count / r.seconds, bytes / 1e6 / r.seconds,
              baseline > 0 ? 100.0 * baseline / r.seconds : 100.0,
              static_cast<unsigned long long>(r.count), r.seconds);
}

}  // namespace

// Reads the file through FileSource as the consumer does; returns events.
uint64_t streamFile(const char* path, uint64_t& bytes) {
  kc::audit::FileSource src({.path = path, .checkpointPath = {}});
  src.start();
  kc::audit::EventParser parser;
  uint64_t n = 0;
  while (src.readAvailable([&](const kc::audit::LineBatch& b) {
    parser.parseLines(
        b.text, [&](const kc::audit::Event&) { ++n; }, /*padded=*/true);
  }) > 0) {
  }
  bytes = src.stats().bytesRead;
  return n;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE.jsonl [ROUNDS] [--stream-only | --raw-only]\n", argv[0]);
    return 2;
  }
  int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  const bool rawOnly = argc > 3 && std::string_view(argv[3]) == "--raw-only";
  if (argc > 3 && std::string_view(argv[3]) == "--stream-only") {
    uint64_t bytes = 0;
    Result r = best(rounds, [&] { return streamFile(argv[1], bytes); });
    report("FileSource + EventParser (stream)", r, bytes, 0);
    return 0;
  }
  simdjson::padded_string data;
  if (auto err = simdjson::padded_string::load(argv[1]).get(data)) {
    std::fprintf(stderr, "%s: %s\n", argv[1], simdjson::error_message(err));
    return 1;
  }
  std::string_view buf(data.data(), data.size());
  std::printf("file %s: %.1f MB, simdjson %s, implementation %s\n", argv[1], data.size() / 1e6,
              SIMDJSON_STRINGIFY(SIMDJSON_VERSION),
              simdjson::get_active_implementation()->name().c_str());

  simdjson::dom::parser raw;
  Result many = best(rounds, [&] {
    uint64_t n = 0;
    simdjson::dom::document_stream docs;
    if (raw.parse_many(data, 4u << 20).get(docs)) return n;
    for (auto doc : docs) {
      if (!doc.error()) ++n;
    }
    return n;
  });

  if (rawOnly) {
    report("simdjson parse_many (raw)", many, data.size(), many.seconds);
    return 0;
  }

  simdjson::dom::parser perLine;
  Result lines = best(rounds, [&] {
    uint64_t n = 0;
    std::string_view rest = buf;
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
      if (line.empty()) continue;
      simdjson::dom::element e;
      if (!perLine.parse(line.data(), line.size()).get(e)) ++n;
    }
    return n;
  });

  kc::audit::EventParser parser;
  uint64_t checksum = 0;
  Result ours = best(rounds, [&] {
    uint64_t n = 0;
    parser.parseLines(
        buf,
        [&](const kc::audit::Event& e) {
          ++n;
          checksum += e.auditID.size() + e.user.username.size() + e.objectRef.name.size() +
                      static_cast<uint64_t>(e.responseCode) + (e.hasResponseObject ? 1 : 0);
        },
        /*padded=*/true);  // padded_string::load leaves simdjson's padding
    return n;
  });

  report("simdjson parse_many (raw)", many, data.size(), many.seconds);
  report("simdjson parse per line", lines, data.size(), many.seconds);
  report("kc::audit::EventParser", ours, data.size(), many.seconds);
  uint64_t streamed = 0;
  Result stream = best(rounds, [&] { return streamFile(argv[1], streamed); });
  report("FileSource + EventParser (stream)", stream, streamed, many.seconds);
  std::printf("(checksum %llu)\n", static_cast<unsigned long long>(checksum));
  return ours.count == many.count ? 0 : 1;
}
