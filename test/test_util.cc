#include "test/test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

// clang-format off
#include <utility>  // before Boost.Asio: its C++20 awaitable header needs std::exchange
// clang-format on
#include <array>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace kc::testing {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

TempDir::TempDir() {
  char tmpl[] = "/tmp/kc-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path);
  out << data;
}

struct TlsClient::Impl {
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
  std::string host;
  std::uint16_t port;
  beast::flat_buffer buffer;

  std::string connect(int receiveBuffer = 0) {
    stream.emplace(ioc, ctx);
    SSL_set_tlsext_host_name(stream->native_handle(), host.c_str());
    stream->set_verify_callback(ssl::host_name_verification(host));
    beast::error_code ec;
    if (receiveBuffer > 0) {  // before connect, so the window offered stays small
      auto& sock = beast::get_lowest_layer(*stream).socket();
      sock.open(tcp::v4(), ec);
      if (!ec) sock.set_option(net::socket_base::receive_buffer_size(receiveBuffer), ec);
      if (ec) return "socket: " + ec.message();
    }
    beast::get_lowest_layer(*stream).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(*stream).connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return "connect: " + ec.message();
    stream->handshake(ssl::stream_base::client, ec);
    if (ec) return "handshake: " + ec.message();
    buffer.clear();
    return "";
  }

  std::string serialHex() {
    std::string out;
    if (X509* cert = SSL_get1_peer_certificate(stream->native_handle())) {
      BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
      char* hex = BN_bn2hex(bn);
      out = hex;
      OPENSSL_free(hex);
      BN_free(bn);
      X509_free(cert);
    }
    return out;
  }
};

TlsClient::TlsClient(std::string caFile, std::uint16_t port, std::string host,
                     std::string clientCert, std::string clientKey)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->ctx.set_verify_mode(ssl::verify_peer);
  impl_->ctx.load_verify_file(caFile);
  if (!clientCert.empty()) {
    impl_->ctx.use_certificate_chain_file(clientCert);
    impl_->ctx.use_private_key_file(clientKey, ssl::context::pem);
  }
}

TlsClient::~TlsClient() = default;

bool TlsClient::connected() const { return impl_->stream.has_value(); }

void TlsClient::close() {
  if (!impl_->stream) return;
  beast::error_code ec;
  beast::get_lowest_layer(*impl_->stream).close();
  impl_->stream.reset();
}

HttpResult TlsClient::request(const std::string& method, const std::string& target,
                              const std::string& body, const std::string& contentType,
                              const std::map<std::string, std::string>& headers) {
  HttpResult out;
  if (!impl_->stream) {
    out.error = impl_->connect();
    if (!out.error.empty()) {
      impl_->stream.reset();
      return out;
    }
  }
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, impl_->host);
  if (!contentType.empty()) req.set(bhttp::field::content_type, contentType);
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.keep_alive(true);
  req.prepare_payload();
  beast::error_code ec;
  beast::get_lowest_layer(*impl_->stream).expires_after(std::chrono::seconds(10));
  bhttp::write(*impl_->stream, req, ec);
  // A server may answer (413) and close before the whole body is sent: still read its answer.
  const beast::error_code writeError = ec;
  ec = {};
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  bhttp::read(*impl_->stream, impl_->buffer, parser, ec);
  if (ec) {
    out.error = (writeError ? "write: " + writeError.message() + "; " : std::string()) +
                "read: " + ec.message();
    close();
    return out;
  }
  auto res = parser.release();
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  for (const auto& h : res) out.headers[std::string(h.name_string())] = std::string(h.value());
  out.peerCertSerialHex = impl_->serialHex();
  if (!res.keep_alive()) close();
  return out;
}

std::string TlsClient::raw(const std::string& bytes, std::chrono::milliseconds wait) {
  return rawPieces({bytes}, std::chrono::milliseconds(0), wait);
}

std::string TlsClient::rawPieces(const std::vector<std::string>& pieces,
                                 std::chrono::milliseconds pause, std::chrono::milliseconds wait) {
  close();
  std::string err = impl_->connect();
  if (!err.empty()) return "";
  beast::error_code ec;
  beast::get_lowest_layer(*impl_->stream).expires_after(wait + pause * pieces.size());
  for (size_t i = 0; i < pieces.size() && !ec; ++i) {
    if (i > 0) std::this_thread::sleep_for(pause);
    net::write(*impl_->stream, net::buffer(pieces[i]), ec);
  }
  std::string received;
  std::array<char, 4096> buf;
  for (;;) {
    const size_t n = impl_->stream->read_some(net::buffer(buf), ec);
    received.append(buf.data(), n);
    if (ec) break;
  }
  close();
  return received;
}

bool TlsClient::sendWithoutReading(const std::string& bytes) {
  close();
  if (!impl_->connect(4096).empty()) return false;
  beast::error_code ec;
  beast::get_lowest_layer(*impl_->stream).expires_after(std::chrono::seconds(10));
  net::write(*impl_->stream, net::buffer(bytes), ec);
  return !ec;
}

int tcpConnect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

HttpResult httpGet(std::uint16_t port, const std::string& target) {
  HttpResult out;
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) {
    out.error = ec.message();
    return out;
  }
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  bhttp::write(stream, req, ec);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  if (!ec) bhttp::read(stream, buffer, res, ec);
  if (ec) {
    out.error = ec.message();
    return out;
  }
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  for (const auto& h : res) out.headers[std::string(h.name_string())] = std::string(h.value());
  return out;
}

Process::Process(const std::vector<std::string>& argv, const std::string& stdoutFile,
                 const std::string& stderrFile) {
  pid_ = fork();
  if (pid_ == 0) {
    FILE* out = std::fopen(stdoutFile.c_str(), "w");
    FILE* err = std::fopen(stderrFile.c_str(), "w");
    if (out) dup2(fileno(out), 1);
    if (err) dup2(fileno(err), 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

Process::~Process() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void Process::signal(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

int Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const int r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string Process::waitForLine(const std::string& file, const std::string& needle,
                                 std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find(needle) != std::string::npos) return line;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

std::string kubeCustomsBinary() { return std::string(KC_BINARY_DIR) + "/cmd/kube-customs"; }

int runCommand(const std::string& command, std::string& output) {
  output.clear();
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int runIntoClosedPipe(const std::vector<std::string>& argv, std::string& errors) {
  errors.clear();
  int out[2], err[2];
  if (::pipe(out) != 0) return -1;
  if (::pipe(err) != 0) return -1;
  ::close(out[0]);  // no reader: every write to out[1] fails with EPIPE (or raises SIGPIPE)
  const pid_t pid = fork();
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_IGN);  // kept across exec
    dup2(out[1], 1);
    dup2(err[1], 2);
    ::close(out[1]);
    ::close(err[0]);
    ::close(err[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(err[0], buf, sizeof buf)) > 0) errors.append(buf, static_cast<size_t>(n));
  ::close(err[0]);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

}  // namespace kc::testing
