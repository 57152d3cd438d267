#include "node/docker_client.h"

#include <simdjson.h>
#include <sys/un.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>

#include "common/utf8.h"
#include "node/json_reader.h"

namespace kc::node {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using local = net::local::stream_protocol;
using Stream = beast::basic_stream<local>;
using simdjson::dom::element;
using simdjson::dom::object;

std::string_view dockerErrorName(DockerError e) {
  switch (e) {
    case DockerError::kNone:
      return "none";
    case DockerError::kConnect:
      return "connect";
    case DockerError::kTimeout:
      return "timeout";
    case DockerError::kNotFound:
      return "not_found";
    case DockerError::kHttpStatus:
      return "http_status";
    case DockerError::kTooLarge:
      return "too_large";
    case DockerError::kMalformed:
      return "malformed";
    case DockerError::kTruncated:
      return "truncated";
    case DockerError::kUnsupported:
      return "unsupported";
    case DockerError::kInvalidArgument:
      return "invalid_argument";
  }
  return "unknown";
}

std::string_view dockerEventKindName(DockerEventKind k) {
  switch (k) {
    case DockerEventKind::kCreate:
      return "create";
    case DockerEventKind::kStart:
      return "start";
    case DockerEventKind::kDie:
      return "die";
    case DockerEventKind::kDestroy:
      return "destroy";
    case DockerEventKind::kExecCreate:
      return "exec_create";
    case DockerEventKind::kExecStart:
      return "exec_start";
    case DockerEventKind::kExecDie:
      return "exec_die";
    case DockerEventKind::kOther:
      return "other";
  }
  return "other";
}

std::string dockerSince(std::int64_t sinceNano) {
  if (sinceNano < 0) sinceNano = 0;
  std::string nanos = std::to_string(sinceNano % 1000000000);
  nanos.insert(0, 9 - nanos.size(), '0');
  return std::to_string(sinceNano / 1000000000) + "." + nanos;
}

std::string ExecInfo::commandLine(std::size_t maxBytes) const {
  utf8::CappedText text(maxBytes);
  for (const auto& piece : command) text.add(" ", piece);
  return std::move(text).finish("arguments");
}

namespace {

// ---- JSON reading: every string clamped once, lists capped, wrong types named ----

using Reader = JsonReader;

bool parseApiVersion(std::string_view v, int& major, int& minor) {
  const auto dot = v.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= v.size() || v.size() > 12)
    return false;
  auto num = [](std::string_view s, int& out) {
    out = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    return true;
  };
  return num(v.substr(0, dot), major) && num(v.substr(dot + 1), minor);
}

// A container or exec id, or a container name: nothing that could change the request target.
bool validId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  const auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(id[0])) return false;
  return std::all_of(id.begin(), id.end(),
                     [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

std::string trimSlash(std::string s) {
  if (!s.empty() && s.front() == '/') s.erase(0, 1);
  return s;
}

DockerError mapReadError(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return DockerError::kTimeout;
  if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit ||
      ec == bhttp::error::buffer_overflow)
    return DockerError::kTooLarge;
  if (ec == bhttp::error::partial_message || ec == bhttp::error::end_of_stream ||
      ec == net::error::eof || ec == net::error::connection_reset || ec == net::error::broken_pipe)
    return DockerError::kTruncated;
  return DockerError::kMalformed;
}

void count(DockerStats& s, DockerError e) {
  switch (e) {
    case DockerError::kConnect:
      ++s.connectErrors;
      break;
    case DockerError::kTimeout:
      ++s.timeouts;
      break;
    case DockerError::kNotFound:
      ++s.notFound;
      break;
    case DockerError::kHttpStatus:
      ++s.httpErrors;
      break;
    case DockerError::kTooLarge:
      ++s.tooLarge;
      break;
    case DockerError::kMalformed:
      ++s.malformed;
      break;
    case DockerError::kTruncated:
      ++s.truncated;
      break;
    default:
      break;
  }
}

template <class T, class U>
DockerResult<T> failure(const DockerResult<U>& from) {
  DockerResult<T> r;
  r.error = from.error;
  r.message = from.message;
  return r;
}

template <class T>
DockerResult<T> failure(DockerStats& stats, DockerError e, std::string message) {
  count(stats, e);
  DockerResult<T> r;
  r.error = e;
  r.message = std::move(message);
  return r;
}

// Runs `ioc` until the operation started on it completes. basic_stream's expiry bounds it.
void runToCompletion(net::io_context& ioc) {
  ioc.restart();
  ioc.run();
}

// Connects `stream` to the socket at `path` within `timeout`.
beast::error_code connectStream(net::io_context& ioc, Stream& stream, const std::string& path,
                                std::chrono::milliseconds timeout) {
  beast::error_code ec;
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    return net::error::make_error_code(net::error::invalid_argument);
  }
  stream.expires_after(timeout);
  stream.async_connect(local::endpoint(path), [&](beast::error_code e) { ec = e; });
  runToCompletion(ioc);
  return ec;
}

bhttp::request<bhttp::empty_body> getRequest(const std::string& target) {
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "docker");
  req.set(bhttp::field::user_agent, "kube-customs/" KC_VERSION);
  req.set(bhttp::field::accept, "application/json");
  return req;
}

// The daemon's {"message": "..."} of an error answer, clamped; or the status text.
std::string errorMessage(simdjson::dom::parser& parser, const std::string& body, unsigned status,
                         const DockerLimits& limits) {
  element doc;
  std::string_view msg;
  if (parser.parse(body).get(doc) == simdjson::SUCCESS && doc.is_object() &&
      doc["message"].get_string().get(msg) == simdjson::SUCCESS)
    return "HTTP " + std::to_string(status) + ": " + std::string(utf8::prefix(msg, 512));
  return "HTTP " + std::to_string(status);
}

}  // namespace

// ---- events ----

bool parseDockerEvent(std::string_view line, const DockerLimits& limits, DockerEvent& out,
                      std::string& error) {
  thread_local simdjson::dom::parser parser = [] {
    simdjson::dom::parser p(1u << 20);
    // The depth cap; the capacity grows with the lines, up to the parser's maximum. A failed
    // allocation shows as a parse error of the first line.
    [[maybe_unused]] const auto allocated = p.allocate(64u << 10, 32);
    return p;
  }();
  out = DockerEvent{};
  if (line.size() > limits.maxEventLineBytes) {
    error = "event line over " + std::to_string(limits.maxEventLineBytes) + " bytes";
    return false;
  }
  element doc;
  if (auto e = parser.parse(line.data(), line.size()).get(doc); e != simdjson::SUCCESS) {
    error = std::string("not JSON: ") + simdjson::error_message(e);
    return false;
  }
  object o;
  if (doc.get_object().get(o) != simdjson::SUCCESS) {
    error = "not a JSON object";
    return false;
  }
  Reader r(limits);
  std::string type, action;
  std::optional<object> actor;
  if (!r.str(o, "Type", type, "Type") || !r.str(o, "Action", action, "Action") ||
      !r.obj(o, "Actor", actor, "Actor") || !r.integer(o, "time", out.time, "time") ||
      !r.integer(o, "timeNano", out.timeNano, "timeNano")) {
    error = r.error;
    return false;
  }
  if (type != "container") {
    error = type.empty() ? "no Type" : "not a container event: " + type;
    return false;
  }
  if (action.empty() || !actor) {
    error = "no Action or Actor";
    return false;
  }
  if (!r.str(*actor, "ID", out.containerId, "Actor.ID") || out.containerId.empty()) {
    error = r.error.empty() ? "no Actor.ID" : r.error;
    return false;
  }
  if (out.timeNano == 0)
    out.timeNano = out.time > INT64_MAX / 1000000000 ? 0 : out.time * 1000000000;
  if (out.time == 0) out.time = out.timeNano / 1000000000;
  if (out.timeNano <= 0) {
    error = "no time";
    return false;
  }
  std::vector<std::pair<std::string, std::string>> attrs;
  if (!r.stringMap(*actor, "Attributes", attrs, "Actor.Attributes")) {
    error = r.error;
    return false;
  }
  for (auto& [k, v] : attrs) {
    if (k == "execID")
      out.execId = std::move(v);
    else if (k == "image")
      out.image = std::move(v);
    else if (k == "name")
      out.name = std::move(v);
    else if (k == "exitCode")
      out.exitCode = std::move(v);
    else
      out.attributes.emplace_back(std::move(k), std::move(v));
  }
  // "exec_start: cat /etc/passwd": the kind, then the command as the daemon joined it.
  const auto colon = action.find(':');
  const std::string_view verb = std::string_view(action).substr(0, colon);
  if (colon != std::string::npos) {
    std::string_view rest = std::string_view(action).substr(colon + 1);
    if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    out.execCommand = std::string(rest);
  }
  if (verb == "create")
    out.kind = DockerEventKind::kCreate;
  else if (verb == "start")
    out.kind = DockerEventKind::kStart;
  else if (verb == "die")
    out.kind = DockerEventKind::kDie;
  else if (verb == "destroy")
    out.kind = DockerEventKind::kDestroy;
  else if (verb == "exec_create")
    out.kind = DockerEventKind::kExecCreate;
  else if (verb == "exec_start")
    out.kind = DockerEventKind::kExecStart;
  else if (verb == "exec_die")
    out.kind = DockerEventKind::kExecDie;
  else
    out.kind = DockerEventKind::kOther;
  out.action = std::move(action);
  out.clamped = r.clamped;
  return true;
}

std::string EventResume::key(const DockerEvent& e) {
  return e.action + '\0' + e.containerId + '\0' + e.execId;
}

bool EventResume::fresh(const DockerEvent& e) {
  if (e.timeNano < lastTimeNano_) return false;
  std::string k = key(e);
  if (e.timeNano == lastTimeNano_) {
    if (std::find(atLast_.begin(), atLast_.end(), k) != atLast_.end()) return false;
    if (atLast_.size() < 64) atLast_.push_back(std::move(k));
    return true;
  }
  lastTimeNano_ = e.timeNano;
  atLast_.clear();
  atLast_.push_back(std::move(k));
  return true;
}

struct EventStream::Impl {
  Impl(DockerStats& s, const DockerLimits& l) : stats(s), limits(l), stream(ioc) {}
  DockerStats& stats;
  DockerLimits limits;
  net::io_context ioc;
  Stream stream;
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> parser;
  char chunk[16384];
  std::string lines;        // bytes received, not yet split into lines
  bool discarding = false;  // inside a line over the cap: dropped up to its newline
  bool reading = false;     // an async_read_some is in flight
  bool readDone = false;
  beast::error_code readError;
  std::size_t readBytes = 0;
  bool closed = false;
  // A read failed: reported once the whole lines received before it are handed out.
  DockerError failed = DockerError::kNone;
  std::string failure;

  void startRead() {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof(chunk);
    reading = true;
    readDone = false;
    bhttp::async_read_some(stream, buffer, parser, [this](beast::error_code ec, std::size_t) {
      readDone = true;
      reading = false;
      readError = ec;
      readBytes = sizeof(chunk) - parser.get().body().size;
    });
  }
};

EventStream::EventStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EventStream::~EventStream() { close(); }

void EventStream::close() {
  if (!impl_ || impl_->closed) return;
  impl_->closed = true;
  beast::error_code ignored;
  impl_->stream.socket().shutdown(local::socket::shutdown_both, ignored);
  impl_->stream.close();
  // Let the cancelled read finish, so its handler never runs on a destroyed stream.
  impl_->ioc.restart();
  impl_->ioc.poll();
}

EventStream::Status EventStream::next(DockerEvent& out, std::chrono::milliseconds wait) {
  if (!impl_ || impl_->closed) {
    if (errorCode_ == DockerError::kNone && error_.empty()) error_ = "stream closed";
    return errorCode_ == DockerError::kNone ? Status::kClosed : Status::kError;
  }
  Impl& s = *impl_;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    // Whole lines first.
    std::size_t start = 0;
    for (std::size_t nl; (nl = s.lines.find('\n', start)) != std::string::npos;) {
      std::string_view line(s.lines.data() + start, nl - start);
      start = nl + 1;
      if (s.discarding) {
        s.discarding = false;
        continue;
      }
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      if (line.size() > s.limits.maxEventLineBytes) {
        ++s.stats.eventLinesTooLong;
        continue;
      }
      std::string why;
      if (parseDockerEvent(line, s.limits, out, why)) {
        s.lines.erase(0, start);
        ++s.stats.events;
        if (out.clamped) ++s.stats.clamped;
        return Status::kEvent;
      }
      ++s.stats.eventLinesMalformed;
    }
    s.lines.erase(0, start);
    if (s.discarding) s.lines.clear();
    if (s.lines.size() > s.limits.maxEventLineBytes) {
      ++s.stats.eventLinesTooLong;
      s.lines.clear();
      s.discarding = true;
    }
    if (s.failed != DockerError::kNone) {
      errorCode_ = s.failed;
      error_ = std::move(s.failure);
      close();
      return Status::kError;
    }
    if (s.parser.is_done()) {
      // The daemon ended the response: a last line without its newline is not an event.
      if (s.lines.find_first_not_of(" \t\r") != std::string::npos) {
        ++s.stats.eventLinesMalformed;
        s.lines.clear();
      }
      close();
      error_ = "the daemon ended the event stream";
      return Status::kClosed;
    }
    if (!s.reading) s.startRead();
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return Status::kIdle;
    if (s.ioc.stopped()) s.ioc.restart();
    s.ioc.run_one_for(deadline - now);
    if (!s.readDone) continue;  // woke without the read finishing: the deadline decides
    s.readDone = false;
    if (s.readBytes > 0) s.lines.append(s.chunk, s.readBytes);
    if (s.readError && s.readError != bhttp::error::need_buffer) {
      s.failed = mapReadError(s.readError);
      count(s.stats, s.failed);
      s.failure = s.failed == DockerError::kTruncated
                      ? "the event stream was cut off: " + s.readError.message()
                      : "event stream: " + s.readError.message();
    }
  }
}

// ---- the client ----

struct DockerClient::Parser {
  explicit Parser(std::size_t maxBytes) : parser(maxBytes + 64) {
    // The depth cap; the capacity grows with the answers, up to the maximum above.
    [[maybe_unused]] const auto allocated = parser.allocate(64u << 10, 64);
  }
  simdjson::dom::parser parser;
};

DockerClient::DockerClient(std::string socketPath, DockerLimits limits)
    : socketPath_(std::move(socketPath)),
      limits_(limits),
      apiVersion_(kMinDockerApiVersion),
      parser_(std::make_unique<Parser>(limits.maxBodyBytes)) {}

DockerClient::~DockerClient() = default;

DockerResult<std::string> DockerClient::get(const std::string& target) {
  return call(false, target, {});
}

DockerResult<std::string> DockerClient::call(bool post, const std::string& target,
                                             const std::string& body) {
  ++stats_.requests;
  const std::string what = (post ? "POST " : "GET ") + target;
  try {
    net::io_context ioc;
    Stream stream(ioc);
    const auto start = std::chrono::steady_clock::now();
    beast::error_code ec = connectStream(ioc, stream, socketPath_, limits_.connectTimeout);
    if (ec) {
      const DockerError code =
          ec == beast::error::timeout ? DockerError::kTimeout : DockerError::kConnect;
      return failure<std::string>(stats_, code,
                                  "cannot connect to " + socketPath_ + ": " + ec.message());
    }
    const auto left =
        limits_.requestTimeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - start);
    stream.expires_after(std::max(left, std::chrono::milliseconds(1)));
    // The request lives until the write completes (runToCompletion below).
    bhttp::request<bhttp::string_body> req{post ? bhttp::verb::post : bhttp::verb::get, target, 11};
    req.set(bhttp::field::host, "docker");
    req.set(bhttp::field::user_agent, "kube-customs/" KC_VERSION);
    req.set(bhttp::field::accept, "application/json");
    if (post) {
      req.set(bhttp::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    bhttp::async_write(stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
    runToCompletion(ioc);
    if (ec) {
      const DockerError code =
          ec == beast::error::timeout ? DockerError::kTimeout : DockerError::kConnect;
      return failure<std::string>(stats_, code, what + ": " + ec.message());
    }
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits_.maxHeaderBytes));
    parser.body_limit(limits_.maxBodyBytes);
    // The headers first: Beast 1.74 checks a Content-Length against the body limit only when the
    // headers are read on their own (a whole message read at once passes over it).
    bhttp::async_read_header(stream, buffer, parser,
                             [&](beast::error_code e, std::size_t) { ec = e; });
    runToCompletion(ioc);
    if (!ec && parser.content_length() && *parser.content_length() > limits_.maxBodyBytes)
      ec = bhttp::error::body_limit;
    if (!ec && !parser.is_done()) {
      bhttp::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
      runToCompletion(ioc);
    }
    if (ec) {
      const DockerError code = mapReadError(ec);
      return failure<std::string>(stats_, code, what + ": " + ec.message());
    }
    auto res = parser.release();
    const unsigned status = res.result_int();
    if (status == 404)
      return failure<std::string>(stats_, DockerError::kNotFound,
                                  errorMessage(parser_->parser, res.body(), status, limits_));
    if (status < 200 || status >= 300)
      return failure<std::string>(
          stats_, DockerError::kHttpStatus,
          what + ": " + errorMessage(parser_->parser, res.body(), status, limits_));
    DockerResult<std::string> ok;
    ok.value = std::move(res.body());
    return ok;
  } catch (const std::exception& e) {
    return failure<std::string>(stats_, DockerError::kConnect, what + ": " + std::string(e.what()));
  }
}

DockerResult<DockerVersion> DockerClient::negotiate() {
  auto body = get("/version");
  if (!body.ok()) return failure<DockerVersion>(body);
  element doc;
  object o;
  if (parser_->parser.parse(body.value).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(o) != simdjson::SUCCESS)
    return failure<DockerVersion>(stats_, DockerError::kMalformed, "/version: not a JSON object");
  Reader r(limits_);
  DockerVersion v;
  if (!r.str(o, "Version", v.version, "Version") ||
      !r.str(o, "ApiVersion", v.apiVersion, "ApiVersion") ||
      !r.str(o, "MinAPIVersion", v.minApiVersion, "MinAPIVersion"))
    return failure<DockerVersion>(stats_, DockerError::kMalformed, "/version: " + r.error);
  int major = 0, minor = 0, minMajor = 0, minMinor = 0;
  if (!parseApiVersion(v.apiVersion, major, minor))
    return failure<DockerVersion>(stats_, DockerError::kMalformed,
                                  "/version: ApiVersion \"" + v.apiVersion + "\" is not N.N");
  parseApiVersion(kMinDockerApiVersion, minMajor, minMinor);
  if (std::pair(major, minor) < std::pair(minMajor, minMinor)) {
    DockerResult<DockerVersion> r2;
    r2.error = DockerError::kUnsupported;
    r2.message = "the daemon speaks Engine API " + v.apiVersion + " at most; " +
                 std::string(kMinDockerApiVersion) + " or newer is needed (dockerd 20.10)";
    r2.value = v;
    return r2;
  }
  apiVersion_ = std::to_string(major) + "." + std::to_string(minor);
  v.used = apiVersion_;
  DockerResult<DockerVersion> ok;
  ok.value = std::move(v);
  return ok;
}

DockerResult<std::vector<ContainerSummary>> DockerClient::listContainers() {
  const std::string target = "/v" + apiVersion_ + "/containers/json?all=1";
  auto body = get(target);
  if (!body.ok()) return failure<std::vector<ContainerSummary>>(body);
  element doc;
  simdjson::dom::array a;
  if (parser_->parser.parse(body.value).get(doc) != simdjson::SUCCESS ||
      doc.get_array().get(a) != simdjson::SUCCESS)
    return failure<std::vector<ContainerSummary>>(stats_, DockerError::kMalformed,
                                                  target + ": not a JSON array");
  DockerResult<std::vector<ContainerSummary>> out;
  bool clamped = false;
  for (element item : a) {
    if (out.value.size() >= limits_.maxContainers) {
      clamped = true;
      break;
    }
    object o;
    Reader r(limits_);
    ContainerSummary c;
    std::vector<std::string> names;
    if (item.get_object().get(o) != simdjson::SUCCESS || !r.str(o, "Id", c.id, "Id") ||
        !r.strList(o, "Names", names, "Names") || !r.str(o, "Image", c.image, "Image") ||
        !r.str(o, "State", c.state, "State") || !r.integer(o, "Created", c.created, "Created") ||
        !r.stringMap(o, "Labels", c.labels, "Labels") || c.id.empty()) {
      return failure<std::vector<ContainerSummary>>(
          stats_, DockerError::kMalformed,
          target + ": entry " + std::to_string(out.value.size()) + ": " +
              (r.error.empty() ? "not a container" : r.error));
    }
    if (!names.empty()) c.name = trimSlash(names.front());
    clamped = clamped || r.clamped;
    out.value.push_back(std::move(c));
  }
  if (clamped) ++stats_.clamped;
  return out;
}

namespace {

// A container from the object GET /containers/{id}/json answers with.
bool decodeContainer(object o, const DockerLimits& limits, Container& c, std::string& error) {
  c = Container{};
  Reader r(limits);
  c.runtime = Runtime::kDocker;
  std::optional<object> config, host, state;
  std::vector<std::string> entrypoint, cmd, securityOpt, bindSpecs;
  std::string path, networkMode, pidMode, ipcMode;
  std::vector<std::string> args;
  bool ok = r.str(o, "Id", c.id, "Id") && r.str(o, "Name", c.name, "Name") &&
            r.str(o, "Image", c.imageId, "Image") && r.str(o, "Path", path, "Path") &&
            r.strList(o, "Args", args, "Args") && r.obj(o, "Config", config, "Config") &&
            r.obj(o, "HostConfig", host, "HostConfig") && r.obj(o, "State", state, "State");
  if (ok && config) {
    ok = r.str(*config, "Image", c.image, "Config.Image") &&
         r.strList(*config, "Entrypoint", entrypoint, "Config.Entrypoint") &&
         r.strList(*config, "Cmd", cmd, "Config.Cmd") &&
         r.stringMap(*config, "Labels", c.labels, "Config.Labels") &&
         r.str(*config, "User", c.user, "Config.User");
  }
  if (ok && host) {
    std::optional<element> devices = Reader::member(*host, "Devices");
    ok = r.boolean(*host, "Privileged", c.privileged, "HostConfig.Privileged") &&
         r.strList(*host, "CapAdd", c.capAdd, "HostConfig.CapAdd") &&
         r.str(*host, "NetworkMode", networkMode, "HostConfig.NetworkMode") &&
         r.str(*host, "PidMode", pidMode, "HostConfig.PidMode") &&
         r.str(*host, "IpcMode", ipcMode, "HostConfig.IpcMode") &&
         r.strList(*host, "Binds", bindSpecs, "HostConfig.Binds") &&
         r.boolean(*host, "ReadonlyRootfs", c.readOnlyRootfs, "HostConfig.ReadonlyRootfs") &&
         r.strList(*host, "SecurityOpt", securityOpt, "HostConfig.SecurityOpt");
    if (ok && devices) {
      simdjson::dom::array a;
      if (devices->get_array().get(a) != simdjson::SUCCESS) {
        ok = r.fail("HostConfig.Devices", "array of objects");
      } else {
        for (element d : a) {
          object dev;
          BindMount m;
          std::string permissions;
          if (d.get_object().get(dev) != simdjson::SUCCESS ||
              !r.str(dev, "PathOnHost", m.hostPath, "HostConfig.Devices[].PathOnHost") ||
              !r.str(dev, "PathInContainer", m.containerPath,
                     "HostConfig.Devices[].PathInContainer") ||
              !r.str(dev, "CgroupPermissions", permissions,
                     "HostConfig.Devices[].CgroupPermissions")) {
            ok = r.fail("HostConfig.Devices", "array of objects");
            break;
          }
          if (c.devices.size() >= limits.maxListItems) {
            r.clamped = true;
            break;
          }
          m.readOnly = permissions.find('w') == std::string::npos && !permissions.empty();
          c.devices.push_back(std::move(m));
        }
      }
    }
  }
  if (ok && state) {
    ok = r.boolean(*state, "Running", c.running, "State.Running") &&
         r.integer(*state, "Pid", c.pid, "State.Pid") &&
         r.str(*state, "StartedAt", c.startedAt, "State.StartedAt");
  }
  // Mounts: what the daemon actually mounted (from Binds and HostConfig.Mounts alike).
  bool sawMounts = false;
  if (ok) {
    if (auto mounts = Reader::member(o, "Mounts")) {
      simdjson::dom::array a;
      if (mounts->get_array().get(a) != simdjson::SUCCESS) {
        ok = r.fail("Mounts", "array of objects");
      } else {
        sawMounts = true;
        for (element item : a) {
          object m;
          std::string type;
          BindMount b;
          bool rw = true;
          if (item.get_object().get(m) != simdjson::SUCCESS ||
              !r.str(m, "Type", type, "Mounts[].Type") ||
              !r.str(m, "Source", b.hostPath, "Mounts[].Source") ||
              !r.str(m, "Destination", b.containerPath, "Mounts[].Destination") ||
              !r.boolean(m, "RW", rw, "Mounts[].RW")) {
            ok = r.fail("Mounts", "array of objects");
            break;
          }
          if (type != "bind") continue;
          if (c.binds.size() >= limits.maxListItems) {
            r.clamped = true;
            break;
          }
          b.readOnly = !rw;
          c.binds.push_back(std::move(b));
        }
      }
    }
  }
  if (!ok) {
    error = r.error;
    return false;
  }
  if (c.id.empty()) {
    error = "no Id";
    return false;
  }
  if (!sawMounts) {
    // An answer without Mounts: the "/host:/container[:ro]" specs of HostConfig.Binds.
    for (const auto& spec : bindSpecs) {
      const auto first = spec.find(':');
      if (spec.empty() || spec[0] != '/' || first == std::string::npos) continue;
      const auto second = spec.find(':', first + 1);
      BindMount b;
      b.hostPath = spec.substr(0, first);
      b.containerPath = spec.substr(
          first + 1, second == std::string::npos ? std::string::npos : second - first - 1);
      if (second != std::string::npos) {
        const std::string opts = "," + spec.substr(second + 1) + ",";
        b.readOnly = opts.find(",ro,") != std::string::npos;
      }
      c.binds.push_back(std::move(b));
    }
  }
  c.name = trimSlash(std::move(c.name));
  c.hostNetwork = networkMode == "host";
  c.hostPID = pidMode == "host";
  c.hostIPC = ipcMode == "host";
  for (const auto& opt : securityOpt) {
    // "seccomp=unconfined" (and the old "seccomp:unconfined").
    if (opt == "seccomp=unconfined" || opt == "seccomp:unconfined") c.seccompUnconfined = true;
    if (opt == "apparmor=unconfined" || opt == "apparmor:unconfined") c.apparmorUnconfined = true;
  }
  for (auto& piece : entrypoint) c.command.push_back(std::move(piece));
  for (auto& piece : cmd) c.command.push_back(std::move(piece));
  if (c.command.empty() && !path.empty()) {
    c.command.push_back(std::move(path));
    for (auto& a : args) c.command.push_back(std::move(a));
  }
  if (c.command.size() > limits.maxListItems) {
    c.command.resize(limits.maxListItems);
    r.clamped = true;
  }
  if (c.startedAt.rfind("0001-01-01", 0) == 0) c.startedAt.clear();
  if (!c.running) c.pid = 0;
  c.clamped = r.clamped;
  return true;
}

}  // namespace

bool parseContainerInspect(std::string_view json, const DockerLimits& limits, Container& out,
                           std::string& error) {
  simdjson::dom::parser parser(limits.maxBodyBytes + 64);
  [[maybe_unused]] const auto allocated =
      parser.allocate(std::min<std::size_t>(json.size(), limits.maxBodyBytes) + 64, 64);
  element doc;
  object o;
  if (json.size() > limits.maxBodyBytes) {
    error = "over " + std::to_string(limits.maxBodyBytes) + " bytes";
    return false;
  }
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(o) != simdjson::SUCCESS) {
    error = "not a JSON object";
    return false;
  }
  return decodeContainer(o, limits, out, error);
}

DockerResult<Container> DockerClient::inspectContainer(std::string_view id) {
  if (!validId(id))
    return failure<Container>(
        stats_, DockerError::kInvalidArgument,
        "not a container id or name: \"" + std::string(utf8::prefix(id, 128)) + "\"");
  const std::string target = "/v" + apiVersion_ + "/containers/" + std::string(id) + "/json";
  auto body = get(target);
  if (!body.ok()) return failure<Container>(body);
  element doc;
  object o;
  if (parser_->parser.parse(body.value).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(o) != simdjson::SUCCESS)
    return failure<Container>(stats_, DockerError::kMalformed, target + ": not a JSON object");
  DockerResult<Container> out;
  std::string why;
  if (!decodeContainer(o, limits_, out.value, why))
    return failure<Container>(stats_, DockerError::kMalformed, target + ": " + why);
  if (out.value.clamped) ++stats_.clamped;
  return out;
}

DockerResult<ExecInfo> DockerClient::inspectExec(std::string_view id) {
  if (!validId(id))
    return failure<ExecInfo>(stats_, DockerError::kInvalidArgument,
                             "not an exec id: \"" + std::string(utf8::prefix(id, 128)) + "\"");
  const std::string target = "/v" + apiVersion_ + "/exec/" + std::string(id) + "/json";
  auto body = get(target);
  if (!body.ok()) return failure<ExecInfo>(body);
  element doc;
  object o;
  if (parser_->parser.parse(body.value).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(o) != simdjson::SUCCESS)
    return failure<ExecInfo>(stats_, DockerError::kMalformed, target + ": not a JSON object");
  Reader r(limits_);
  DockerResult<ExecInfo> out;
  ExecInfo& e = out.value;
  std::optional<object> process;
  std::string entrypoint;
  std::vector<std::string> arguments;
  bool ok = r.str(o, "ID", e.id, "ID") && r.str(o, "ContainerID", e.containerId, "ContainerID") &&
            r.boolean(o, "Running", e.running, "Running") && r.integer(o, "Pid", e.pid, "Pid") &&
            r.obj(o, "ProcessConfig", process, "ProcessConfig");
  if (ok && process) {
    ok = r.str(*process, "entrypoint", entrypoint, "ProcessConfig.entrypoint") &&
         r.strList(*process, "arguments", arguments, "ProcessConfig.arguments") &&
         r.str(*process, "user", e.user, "ProcessConfig.user") &&
         r.boolean(*process, "privileged", e.privileged, "ProcessConfig.privileged");
  }
  if (!ok) return failure<ExecInfo>(stats_, DockerError::kMalformed, target + ": " + r.error);
  if (e.id.empty() || e.containerId.empty())
    return failure<ExecInfo>(stats_, DockerError::kMalformed, target + ": no ID or ContainerID");
  if (!entrypoint.empty()) e.command.push_back(std::move(entrypoint));
  for (auto& a : arguments) {
    if (e.command.size() >= limits_.maxListItems) {
      r.clamped = true;
      break;
    }
    e.command.push_back(std::move(a));
  }
  e.clamped = r.clamped;
  if (e.clamped) ++stats_.clamped;
  return out;
}

DockerResult<std::unique_ptr<EventStream>> DockerClient::events(std::int64_t sinceNano) {
  using Out = std::unique_ptr<EventStream>;
  ++stats_.requests;
  // {"type":["container"]}
  std::string target =
      "/v" + apiVersion_ + "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D";
  if (sinceNano > 0) target += "&since=" + dockerSince(sinceNano);
  try {
    auto impl = std::make_unique<EventStream::Impl>(stats_, limits_);
    beast::error_code ec =
        connectStream(impl->ioc, impl->stream, socketPath_, limits_.connectTimeout);
    if (ec) {
      const DockerError code =
          ec == beast::error::timeout ? DockerError::kTimeout : DockerError::kConnect;
      return failure<Out>(stats_, code, "cannot connect to " + socketPath_ + ": " + ec.message());
    }
    impl->stream.expires_after(limits_.requestTimeout);
    auto req = getRequest(target);
    bhttp::async_write(impl->stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
    runToCompletion(impl->ioc);
    if (!ec) {
      impl->parser.header_limit(static_cast<std::uint32_t>(limits_.maxHeaderBytes));
      // A stream: each line is capped instead. (Not boost::none: Beast 1.74 takes a
      // Content-Length as over an absent limit.)
      impl->parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      bhttp::async_read_header(impl->stream, impl->buffer, impl->parser,
                               [&](beast::error_code e, std::size_t) { ec = e; });
      runToCompletion(impl->ioc);
    }
    if (ec) return failure<Out>(stats_, mapReadError(ec), "GET " + target + ": " + ec.message());
    const unsigned status = impl->parser.get().result_int();
    if (status != 200)
      return failure<Out>(stats_, status == 404 ? DockerError::kNotFound : DockerError::kHttpStatus,
                          "GET " + target + ": HTTP " + std::to_string(status));
    impl->stream.expires_never();
    DockerResult<Out> ok;
    ok.value = Out(new EventStream(std::move(impl)));
    return ok;
  } catch (const std::exception& e) {
    return failure<Out>(stats_, DockerError::kConnect,
                        "GET " + target + ": " + std::string(e.what()));
  }
}

// ---- for the responder ----

std::string_view fileChangeKindName(int kind) {
  switch (kind) {
    case 0:
      return "changed";
    case 1:
      return "added";
    case 2:
      return "deleted";
    default:
      return "unknown";
  }
}

bool demuxDockerLogs(std::string_view body, std::string& out) {
  std::size_t at = 0;
  // A frame's bytes may hold several lines, or part of one: the prefix goes at each line start.
  bool lineStart[3] = {true, true, true};
  while (at < body.size()) {
    if (body.size() - at < 8) return false;
    const auto stream = static_cast<unsigned char>(body[at]);
    if (stream != 1 && stream != 2) return false;
    const std::uint32_t size =
        (static_cast<std::uint32_t>(static_cast<unsigned char>(body[at + 4])) << 24) |
        (static_cast<std::uint32_t>(static_cast<unsigned char>(body[at + 5])) << 16) |
        (static_cast<std::uint32_t>(static_cast<unsigned char>(body[at + 6])) << 8) |
        static_cast<std::uint32_t>(static_cast<unsigned char>(body[at + 7]));
    at += 8;
    if (body.size() - at < size) return false;
    const std::string_view payload = body.substr(at, size);
    at += size;
    for (char c : payload) {
      if (lineStart[stream]) {
        out += stream == 1 ? "stdout " : "stderr ";
        lineStart[stream] = false;
      }
      out += c;
      if (c == '\n') lineStart[stream] = true;
    }
  }
  return true;
}

DockerResult<std::string> DockerClient::inspectContainerRaw(std::string_view id) {
  if (!validId(id))
    return failure<std::string>(
        stats_, DockerError::kInvalidArgument,
        "not a container id or name: \"" + std::string(utf8::prefix(id, 128)) + "\"");
  return get("/v" + apiVersion_ + "/containers/" + std::string(id) + "/json");
}

DockerResult<ContainerRuntimeState> DockerClient::containerState(std::string_view id) {
  auto body = inspectContainerRaw(id);
  if (!body.ok()) return failure<ContainerRuntimeState>(body);
  const std::string target = "/containers/" + std::string(id) + "/json";
  element doc;
  object o;
  if (parser_->parser.parse(body.value).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(o) != simdjson::SUCCESS)
    return failure<ContainerRuntimeState>(stats_, DockerError::kMalformed,
                                          target + ": not a JSON object");
  Reader r(limits_);
  DockerResult<ContainerRuntimeState> out;
  ContainerRuntimeState& st = out.value;
  std::optional<object> state, config, host, settings, networks;
  bool ok = r.str(o, "Id", st.id, "Id") && r.str(o, "Name", st.name, "Name") &&
            r.obj(o, "State", state, "State") && r.obj(o, "Config", config, "Config") &&
            r.obj(o, "HostConfig", host, "HostConfig") &&
            r.obj(o, "NetworkSettings", settings, "NetworkSettings");
  if (ok && state)
    ok = r.str(*state, "Status", st.status, "State.Status") &&
         r.boolean(*state, "Running", st.running, "State.Running") &&
         r.boolean(*state, "Paused", st.paused, "State.Paused") &&
         r.integer(*state, "Pid", st.pid, "State.Pid");
  if (ok && config)
    ok = r.boolean(*config, "Tty", st.tty, "Config.Tty") &&
         r.str(*config, "Image", st.image, "Config.Image") &&
         r.stringMap(*config, "Labels", st.labels, "Config.Labels");
  if (ok && host) ok = r.str(*host, "NetworkMode", st.networkMode, "HostConfig.NetworkMode");
  if (ok && settings) ok = r.obj(*settings, "Networks", networks, "NetworkSettings.Networks");
  if (ok && networks) {
    for (auto [key, value] : *networks) {
      if (st.networks.size() >= limits_.maxListItems) {
        r.clamped = true;
        break;
      }
      object n;
      ContainerNetwork net;
      net.name = r.clamp(key);
      if (value.get_object().get(n) != simdjson::SUCCESS ||
          !r.str(n, "NetworkID", net.networkId, "NetworkSettings.Networks[].NetworkID") ||
          !r.str(n, "IPAddress", net.ipv4, "NetworkSettings.Networks[].IPAddress") ||
          !r.str(n, "GlobalIPv6Address", net.ipv6,
                 "NetworkSettings.Networks[].GlobalIPv6Address") ||
          !r.strList(n, "Aliases", net.aliases, "NetworkSettings.Networks[].Aliases")) {
        ok = r.fail("NetworkSettings.Networks", "object of objects");
        break;
      }
      st.networks.push_back(std::move(net));
    }
  }
  if (!ok)
    return failure<ContainerRuntimeState>(stats_, DockerError::kMalformed, target + ": " + r.error);
  if (st.id.empty())
    return failure<ContainerRuntimeState>(stats_, DockerError::kMalformed, target + ": no Id");
  st.name = trimSlash(std::move(st.name));
  if (r.clamped) ++stats_.clamped;
  return out;
}

DockerResult<std::string> DockerClient::containerLogs(std::string_view id, std::size_t tailLines,
                                                      bool tty) {
  if (!validId(id))
    return failure<std::string>(
        stats_, DockerError::kInvalidArgument,
        "not a container id or name: \"" + std::string(utf8::prefix(id, 128)) + "\"");
  const std::string target =
      "/v" + apiVersion_ + "/containers/" + std::string(id) +
      "/logs?stdout=1&stderr=1&timestamps=1&tail=" + std::to_string(tailLines);
  auto body = get(target);
  if (!body.ok() || tty) return body;
  DockerResult<std::string> out;
  if (!demuxDockerLogs(body.value, out.value)) {
    ++stats_.malformed;
    out.message = target + ": a log frame was cut short or of an unknown stream";
  }
  return out;
}

DockerResult<ProcessTable> DockerClient::containerTop(std::string_view id) {
  if (!validId(id))
    return failure<ProcessTable>(
        stats_, DockerError::kInvalidArgument,
        "not a container id or name: \"" + std::string(utf8::prefix(id, 128)) + "\"");
  const std::string target = "/v" + apiVersion_ + "/containers/" + std::string(id) + "/top";
  auto body = get(target);
  if (!body.ok()) return failure<ProcessTable>(body);
  element doc;
  object o;
  if (parser_->parser.parse(body.value).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(o) != simdjson::SUCCESS)
    return failure<ProcessTable>(stats_, DockerError::kMalformed, target + ": not a JSON object");
  Reader r(limits_);
  DockerResult<ProcessTable> out;
  std::optional<simdjson::dom::array> rows;
  bool ok = r.strList(o, "Titles", out.value.titles, "Titles") &&
            r.arr(o, "Processes", rows, "Processes");
  if (ok && rows) {
    for (element row : *rows) {
      if (out.value.rows.size() >= 4096) {
        r.clamped = true;
        break;
      }
      simdjson::dom::array cells;
      if (row.get_array().get(cells) != simdjson::SUCCESS) {
        ok = r.fail("Processes", "array of arrays of strings");
        break;
      }
      std::vector<std::string> cellsOut;
      for (element cell : cells) {
        std::string_view text;
        if (cell.get_string().get(text) != simdjson::SUCCESS) {
          ok = r.fail("Processes", "array of arrays of strings");
          break;
        }
        if (cellsOut.size() >= 64) {
          r.clamped = true;
          break;
        }
        cellsOut.push_back(r.clamp(text));
      }
      if (!ok) break;
      out.value.rows.push_back(std::move(cellsOut));
    }
  }
  if (!ok) return failure<ProcessTable>(stats_, DockerError::kMalformed, target + ": " + r.error);
  out.value.clamped = r.clamped;
  if (r.clamped) ++stats_.clamped;
  return out;
}

DockerResult<std::vector<FileChange>> DockerClient::containerChanges(std::string_view id,
                                                                     bool& capped) {
  capped = false;
  using Out = std::vector<FileChange>;
  if (!validId(id))
    return failure<Out>(
        stats_, DockerError::kInvalidArgument,
        "not a container id or name: \"" + std::string(utf8::prefix(id, 128)) + "\"");
  const std::string target = "/v" + apiVersion_ + "/containers/" + std::string(id) + "/changes";
  auto body = get(target);
  if (!body.ok()) return failure<Out>(body);
  element doc;
  if (parser_->parser.parse(body.value).get(doc) != simdjson::SUCCESS)
    return failure<Out>(stats_, DockerError::kMalformed, target + ": not JSON");
  DockerResult<Out> out;
  if (doc.is_null()) return out;  // no change at all
  simdjson::dom::array a;
  if (doc.get_array().get(a) != simdjson::SUCCESS)
    return failure<Out>(stats_, DockerError::kMalformed, target + ": not a JSON array");
  Reader r(limits_);
  for (element item : a) {
    if (out.value.size() >= 10000) {
      capped = true;
      break;
    }
    object o;
    FileChange f;
    std::int64_t kind = 0;
    if (item.get_object().get(o) != simdjson::SUCCESS || !r.str(o, "Path", f.path, "Path") ||
        !r.integer(o, "Kind", kind, "Kind"))
      return failure<Out>(stats_, DockerError::kMalformed,
                          target + ": " + (r.error.empty() ? "not a change" : r.error));
    f.kind = kind >= 0 && kind <= 2 ? static_cast<int>(kind) : -1;
    out.value.push_back(std::move(f));
  }
  if (r.clamped) ++stats_.clamped;
  return out;
}

namespace {

template <class T>
DockerResult<bool> done(const DockerResult<T>& r) {
  DockerResult<bool> out;
  out.error = r.error;
  out.message = r.message;
  out.value = r.ok();
  return out;
}

// A JSON string literal of `s` (ids and names checked by validId; aliases clamped on entry).
std::string jsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

DockerResult<bool> DockerClient::pause(std::string_view id) {
  if (!validId(id))
    return failure<bool>(stats_, DockerError::kInvalidArgument, "not a container id or name");
  return done(call(true, "/v" + apiVersion_ + "/containers/" + std::string(id) + "/pause", {}));
}

DockerResult<bool> DockerClient::unpause(std::string_view id) {
  if (!validId(id))
    return failure<bool>(stats_, DockerError::kInvalidArgument, "not a container id or name");
  return done(call(true, "/v" + apiVersion_ + "/containers/" + std::string(id) + "/unpause", {}));
}

DockerResult<bool> DockerClient::disconnectNetwork(std::string_view network,
                                                   std::string_view container) {
  if (!validId(network) || !validId(container))
    return failure<bool>(stats_, DockerError::kInvalidArgument, "not a network or container id");
  return done(call(true, "/v" + apiVersion_ + "/networks/" + std::string(network) + "/disconnect",
                   "{\"Container\":" + jsonString(container) + ",\"Force\":true}"));
}

DockerResult<bool> DockerClient::connectNetwork(std::string_view network,
                                                std::string_view container,
                                                const std::vector<std::string>& aliases) {
  if (!validId(network) || !validId(container))
    return failure<bool>(stats_, DockerError::kInvalidArgument, "not a network or container id");
  std::string body = "{\"Container\":" + jsonString(container);
  if (!aliases.empty()) {
    body += ",\"EndpointConfig\":{\"Aliases\":[";
    for (std::size_t i = 0; i < aliases.size(); ++i)
      body += (i ? "," : "") + jsonString(aliases[i]);
    body += "]}";
  }
  body += "}";
  return done(
      call(true, "/v" + apiVersion_ + "/networks/" + std::string(network) + "/connect", body));
}

}  // namespace kc::node
