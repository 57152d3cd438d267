#include "controller/events/exec_command.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <span>

namespace kc::audit {

namespace {

constexpr size_t kMaxEvidence = 120;
constexpr size_t kMaxCommandLine = 1024;

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Calls fn on each part of s between separators, empty parts included ("a,,b" has three).
template <class Fn>
void forEachPart(std::string_view s, char sep, Fn&& fn) {
  while (true) {
    const size_t p = s.find(sep);
    fn(s.substr(0, p));
    if (p == std::string_view::npos) return;
    s.remove_prefix(p + 1);
  }
}

// Stores the first out.size() parts of s in out; returns how many parts s has.
size_t splitInto(std::string_view s, char sep, std::span<std::string_view> out) {
  size_t n = 0;
  forEachPart(s, sep, [&](std::string_view part) {
    if (n < out.size()) out[n] = part;
    ++n;
  });
  return n;
}

bool isWordBreak(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == ';' || c == '|' || c == '&' ||
         c == '(' || c == ')' || c == '<' || c == '>' || c == '`' || c == '\'' || c == '"' ||
         c == '$' || c == '{' || c == '}' || c == ',';
}

// Words of a command line, split on whitespace and shell punctuation.
std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && isWordBreak(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !isWordBreak(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

std::string_view basename(std::string_view w) {
  size_t slash = w.rfind('/');
  return slash == std::string_view::npos ? w : w.substr(slash + 1);
}

// True when the program name `base` is `tool`, possibly with a version or platform suffix
// (chisel_1.9.1_linux_amd64, frpc.exe, xmrig-6.21).
bool isTool(std::string_view base, std::string_view tool) {
  if (base.substr(0, tool.size()) != tool) return false;
  if (base.size() == tool.size()) return true;
  char next = base[tool.size()];
  return next == '_' || next == '-' || next == '.';
}

std::string evidenceAround(std::string_view line, size_t pos, size_t len) {
  size_t start = pos > 20 ? pos - 20 : 0;
  size_t end = std::min(line.size(), pos + len + 40);
  std::string e(line.substr(start, end - start));
  if (e.size() > kMaxEvidence) e.resize(kMaxEvidence);
  return e;
}

struct Scanner {
  std::string line;  // lower-cased command line
  std::vector<std::string_view> ws;
  std::vector<Indicator> found;

  void add(std::string id, Severity sev, std::string technique, std::string evidence) {
    for (auto& f : found) {
      if (f.id == id) return;
    }
    if (evidence.size() > kMaxEvidence) evidence.resize(kMaxEvidence);
    found.push_back({std::move(id), sev, std::move(technique), std::move(evidence)});
  }

  // First of the needles found in the line, as (position, needle).
  std::optional<std::pair<size_t, std::string_view>> findAny(
      std::initializer_list<std::string_view> needles) const {
    for (std::string_view n : needles) {
      size_t p = line.find(n);
      if (p != std::string::npos) return std::make_pair(p, n);
    }
    return std::nullopt;
  }

  bool hasWord(std::initializer_list<std::string_view> tools,
               std::string_view* which = nullptr) const {
    for (std::string_view w : ws) {
      std::string_view b = basename(w);
      for (std::string_view t : tools) {
        if (isTool(b, t)) {
          if (which) *which = w;
          return true;
        }
      }
    }
    return false;
  }

  // Index of the word whose basename is exactly `tool`, or npos.
  size_t wordIndex(std::string_view tool, size_t from = 0) const {
    for (size_t i = from; i < ws.size(); ++i) {
      if (basename(ws[i]) == tool) return i;
    }
    return std::string::npos;
  }
};

bool isPrivateIpv4(std::string_view host, bool* isIp) {
  std::string_view parts[4];
  *isIp = false;
  if (splitInto(host, '.', parts) != 4) return false;
  std::array<int, 4> o{};
  for (size_t i = 0; i < 4; ++i) {
    if (parts[i].empty() || parts[i].size() > 3) return false;
    int v = 0;
    for (char c : parts[i]) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    if (v > 255) return false;
    o[i] = v;
  }
  *isIp = true;
  return o[0] == 10 || o[0] == 127 || (o[0] == 172 && o[1] >= 16 && o[1] <= 31) ||
         (o[0] == 192 && o[1] == 168) || (o[0] == 169 && o[1] == 254) ||
         (o[0] == 100 && o[1] >= 64 && o[1] <= 127) || o[0] == 0;
}

bool isInternalHost(std::string_view host) {
  if (host.empty()) return true;
  if (host.front() == '[') return host.rfind("[fd", 0) == 0 || host == "[::1]";  // IPv6 literal
  bool isIp = false;
  if (isPrivateIpv4(host, &isIp)) return true;
  if (isIp) return false;
  if (host.find('.') == std::string_view::npos) return true;  // a service name in the namespace
  for (std::string_view suffix : {".svc", ".svc.cluster.local", ".cluster.local", ".local",
                                  ".internal", ".localdomain", "localhost"}) {
    if (host.size() >= suffix.size() && host.substr(host.size() - suffix.size()) == suffix) {
      return true;
    }
  }
  return false;
}

// Host of a URL or of a curl/wget target like `evil.example/x.sh`.
std::string_view hostOf(std::string_view target) {
  size_t scheme = target.find("://");
  if (scheme != std::string_view::npos) target = target.substr(scheme + 3);
  size_t end = target.find_first_of("/?#");
  std::string_view hostPort = target.substr(0, end);
  if (size_t at = hostPort.rfind('@'); at != std::string_view::npos) {
    hostPort = hostPort.substr(at + 1);
  }
  if (!hostPort.empty() && hostPort.front() == '[') {
    size_t close = hostPort.find(']');
    return close == std::string_view::npos ? hostPort : hostPort.substr(0, close + 1);
  }
  return hostPort.substr(0, hostPort.find(':'));
}

void scanReverseShell(Scanner& s) {
  const std::string& l = s.line;
  if (auto m = s.findAny({"/dev/tcp/", "/dev/udp/"})) {
    s.add("reverse_shell", Severity::kCritical, "T1059.004", evidenceAround(l, m->first, 9));
    return;
  }
  // nc/ncat/netcat with -e/-c (program to run on connect).
  for (std::string_view tool : {"nc", "ncat", "netcat", "nc.traditional", "nc.openbsd"}) {
    for (size_t i = s.wordIndex(tool); i != std::string::npos; i = s.wordIndex(tool, i + 1)) {
      for (size_t j = i + 1; j < s.ws.size() && j < i + 8; ++j) {
        std::string_view a = s.ws[j];
        if (a == "-e" || a == "-c" || a.rfind("--exec", 0) == 0 || a == "--sh-exec" ||
            (a.size() > 2 && a[0] == '-' && a[1] != '-' && a.find('e') != std::string_view::npos &&
             a.find_first_not_of("-lvnpuez") == std::string_view::npos)) {
          size_t p = l.find(s.ws[i]);
          s.add("reverse_shell", Severity::kCritical, "T1059.004", evidenceAround(l, p, 30));
          return;
        }
      }
    }
  }
  // mkfifo-based shell piped through nc.
  if (l.find("mkfifo") != std::string::npos && s.hasWord({"nc", "ncat", "netcat", "openssl"})) {
    s.add("reverse_shell", Severity::kCritical, "T1059.004",
          evidenceAround(l, l.find("mkfifo"), 40));
    return;
  }
  if (s.wordIndex("socat") != std::string::npos &&
      (l.find("exec:") != std::string::npos || l.find("system:") != std::string::npos) &&
      (l.find("tcp") != std::string::npos || l.find("ssl:") != std::string::npos ||
       l.find("openssl") != std::string::npos)) {
    s.add("reverse_shell", Severity::kCritical, "T1059.004",
          evidenceAround(l, l.find("socat"), 60));
    return;
  }
  // Scripting one-liners: a socket plus a shell or pty.
  bool script = s.hasWord({"python", "python2", "python3", "perl", "ruby", "php", "node", "lua"});
  if (script && l.find("socket") != std::string::npos &&
      (l.find("pty.spawn") != std::string::npos || l.find("/bin/sh") != std::string::npos ||
       l.find("/bin/bash") != std::string::npos || l.find("subprocess") != std::string::npos ||
       l.find("dup2") != std::string::npos || l.find("exec") != std::string::npos)) {
    s.add("reverse_shell", Severity::kCritical, "T1059.004",
          evidenceAround(l, l.find("socket"), 60));
    return;
  }
  if (script && l.find("pty.spawn") != std::string::npos) {
    s.add("tty_upgrade", Severity::kMedium, "T1059.006",
          evidenceAround(l, l.find("pty.spawn"), 20));
  }
}

void scanSecrets(Scanner& s) {
  const std::string& l = s.line;
  if (auto m = s.findAny({"/var/run/secrets/kubernetes.io/serviceaccount",
                          "/run/secrets/kubernetes.io/serviceaccount",
                          "/var/run/secrets/eks.amazonaws.com/serviceaccount",
                          "/var/run/secrets/tokens", "/var/run/secrets/azure/tokens"})) {
    s.add("sa_token_read", Severity::kHigh, "T1528", evidenceAround(l, m->first, m->second.size()));
  }
  if (auto m = s.findAny({"169.254.169.254", "metadata.google.internal", "169.254.170.2",
                          "fd00:ec2::254", "metadata.azure.com", "100.100.100.200",
                          "/computemetadata/v1", "/latest/meta-data", "/metadata/identity"})) {
    s.add("cloud_metadata", Severity::kHigh, "T1552.005",
          evidenceAround(l, m->first, m->second.size()));
  }
  if (auto m = s.findAny({"/etc/shadow", "/root/.ssh", "/.aws/credentials", "/.kube/config",
                          "/etc/kubernetes/admin.conf", "/etc/kubernetes/pki"})) {
    s.add("credential_file_read", Severity::kHigh, "T1552.001",
          evidenceAround(l, m->first, m->second.size()));
  }
}

// curl/wget options whose value follows as the next word (lower-cased): -o FILE, -H HEADER.
bool isValueOption(std::string_view w) {
  for (std::string_view o : {"-o",
                             "-d",
                             "-h",
                             "-u",
                             "-a",
                             "-e",
                             "-t",
                             "-f",
                             "-b",
                             "-c",
                             "-w",
                             "-p",
                             "--output",
                             "--output-document",
                             "--data",
                             "--data-binary",
                             "--data-raw",
                             "--header",
                             "--user",
                             "--user-agent",
                             "--cookie",
                             "--form",
                             "--upload-file",
                             "--directory-prefix",
                             "--cacert",
                             "--cert",
                             "--key",
                             "--config"}) {
    if (w == o) return true;
  }
  return false;
}

void scanDownloads(Scanner& s) {
  const std::string& l = s.line;
  bool fetcher = false;
  std::string_view internetTarget;
  for (size_t i = 0; i < s.ws.size(); ++i) {
    std::string_view b = basename(s.ws[i]);
    bool isFetcher = b == "curl" || b == "wget" || b == "fetch" || b == "aria2c";
    if (isFetcher) fetcher = true;
    // URLs anywhere; bare targets (evil.example/x.sh) only as a fetcher's arguments.
    bool optionValue = false;  // the previous word was an option taking a value (-o FILE)
    for (size_t j = i; j < s.ws.size() && (j == i || isFetcher); ++j) {
      std::string_view w = s.ws[j];
      bool skip = optionValue;
      optionValue = isFetcher && j > i && isValueOption(w);
      if (skip) continue;
      bool url = w.find("://") != std::string_view::npos;
      bool bare = isFetcher && j > i && !w.empty() && w[0] != '-' && w[0] != '/' && w[0] != '.' &&
                  w.find('.') != std::string_view::npos;
      if (!url && !bare) continue;
      if (url && w.rfind("http", 0) != 0 && w.rfind("ftp", 0) != 0) continue;
      std::string_view host = hostOf(w);
      if (!isInternalHost(host) && host.find("metadata") == std::string_view::npos &&
          host != "169.254.169.254") {
        internetTarget = w;
        break;
      }
    }
    if (!internetTarget.empty()) break;
  }
  if (!internetTarget.empty()) {
    bool toShell = false;
    for (std::string_view pipe : {"| sh", "|sh", "| bash", "|bash", "| /bin/sh", "|/bin/sh",
                                  "| /bin/bash", "|/bin/bash", "| python", "|python"}) {
      if (l.find(pipe) != std::string::npos) toShell = true;
    }
    if (l.find("chmod +x") != std::string::npos || l.find("chmod 7") != std::string::npos) {
      toShell = true;
    }
    size_t p = l.find(internetTarget);
    if (toShell) {
      s.add("download_execute", Severity::kHigh, "T1105",
            evidenceAround(l, p, internetTarget.size()));
    } else if (fetcher || s.hasWord({"python", "python3", "perl", "ruby"})) {
      s.add("internet_download", Severity::kMedium, "T1105",
            evidenceAround(l, p, internetTarget.size()));
    }
  }
  if (auto m = s.findAny({"base64 -d", "base64 --decode", "base64 -D"})) {
    for (std::string_view pipe : {"| sh", "|sh", "| bash", "|bash", "| /bin/sh", "|/bin/sh"}) {
      if (l.find(pipe, m->first) != std::string::npos) {
        s.add("decode_execute", Severity::kHigh, "T1140", evidenceAround(l, m->first, 30));
        break;
      }
    }
  }
}

void scanTools(Scanner& s) {
  const std::string& l = s.line;
  std::string_view which;
  if (s.hasWord({"ngrok", "chisel", "frpc", "frps", "cloudflared", "bore", "gost", "inlets",
                 "rathole", "zrok", "playit", "iodine", "dnscat", "dnscat2", "ligolo", "pwnat",
                 "localtunnel", "sshuttle"},
                &which)) {
    s.add("tunneling_tool", Severity::kHigh, "T1572",
          evidenceAround(l, l.find(which), which.size()));
  } else if (auto m = s.findAny({"serveo.net", "localhost.run", "pinggy.io", "ngrok.io",
                                 "trycloudflare.com", "loca.lt", "bore.pub"})) {
    s.add("tunneling_tool", Severity::kHigh, "T1572",
          evidenceAround(l, m->first, m->second.size()));
  } else if (size_t ssh = s.wordIndex("ssh"); ssh != std::string::npos) {
    for (size_t j = ssh + 1; j < s.ws.size(); ++j) {
      if (s.ws[j] == "-r" || s.ws[j] == "-d" || s.ws[j].rfind("-r", 0) == 0) {
        s.add("tunneling_tool", Severity::kHigh, "T1572", evidenceAround(l, l.find("ssh"), 30));
        break;
      }
    }
  }
  if (s.hasWord({"xmrig", "minerd", "cpuminer", "ethminer", "nbminer", "t-rex", "lolminer",
                 "phoenixminer", "xmr-stak", "ccminer", "cgminer", "bfgminer", "nanominer",
                 "srbminer", "gminer", "teamredminer"},
                &which)) {
    s.add("miner", Severity::kHigh, "T1496", evidenceAround(l, l.find(which), which.size()));
  } else if (auto m = s.findAny({"stratum+tcp://", "stratum+ssl://", "stratum2+tcp://",
                                 "--donate-level", "pool.minexmr", "supportxmr.com", "nanopool.org",
                                 "moneroocean", "2miners.com"})) {
    s.add("miner", Severity::kHigh, "T1496", evidenceAround(l, m->first, m->second.size()));
  }
  if (s.wordIndex("nsenter") != std::string::npos) {
    s.add("node_escape", Severity::kCritical, "T1611", evidenceAround(l, l.find("nsenter"), 30));
  } else if (auto m = s.findAny({"/var/run/docker.sock", "/run/containerd/containerd.sock",
                                 "/var/run/crio/crio.sock", "/run/k3s/containerd"})) {
    s.add("node_escape", Severity::kCritical, "T1611",
          evidenceAround(l, m->first, m->second.size()));
  } else if (size_t ch = s.wordIndex("chroot");
             ch != std::string::npos && ch + 1 < s.ws.size() &&
             (s.ws[ch + 1] == "/host" || s.ws[ch + 1] == "/rootfs")) {
    s.add("node_escape", Severity::kCritical, "T1611", evidenceAround(l, l.find("chroot"), 20));
  }
  if (auto m = s.findAny({"history -c", "unset histfile", "histfile=/dev/null", "rm -rf /var/log",
                          "> /var/log/", "shred "})) {
    s.add("defense_evasion", Severity::kMedium, "T1070",
          evidenceAround(l, m->first, m->second.size()));
  }
}

}  // namespace

std::string urlDecode(std::string_view s, bool plusIsSpace) {
  if (s.find_first_of(plusIsSpace ? std::string_view("%+") : std::string_view("%")) ==
      std::string_view::npos) {
    return std::string(s);  // nothing to decode
  }
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hexValue(s[i + 1]), lo = hexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (c == '+' && plusIsSpace) ? ' ' : c;
  }
  return out;
}

std::optional<ExecRequest> parseExecRequestUri(std::string_view uri) {
  size_t q = uri.find('?');
  std::string_view path = uri.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view{} : uri.substr(q + 1);
  // "", "api", "v1", "namespaces", ns, "pods", pod, sub
  std::string_view parts[8];
  if (splitInto(path, '/', parts) != 8 || !parts[0].empty() || parts[1] != "api" ||
      parts[2] != "v1" || parts[3] != "namespaces" || parts[5] != "pods" || parts[4].empty() ||
      parts[6].empty()) {
    return std::nullopt;
  }
  ExecRequest r;
  r.subresource = parts[7];
  if (r.subresource != "exec" && r.subresource != "attach" && r.subresource != "portforward") {
    return std::nullopt;
  }
  r.namespace_ = urlDecode(parts[4], false);
  r.pod = urlDecode(parts[6], false);
  if (!query.empty()) {
    forEachPart(query, '&', [&](std::string_view kv) {
      size_t eq = kv.find('=');
      std::string key = urlDecode(kv.substr(0, eq));
      std::string value =
          eq == std::string_view::npos ? std::string() : urlDecode(kv.substr(eq + 1));
      if (key == "command") {
        r.command.push_back(std::move(value));
      } else if (key == "container") {
        r.container = std::move(value);
      } else if (key == "stdin") {
        r.stdin = value == "true" || value == "1";
      } else if (key == "tty") {
        r.tty = value == "true" || value == "1";
      } else if (key == "ports") {
        r.ports.push_back(std::move(value));
      }
    });
  }
  return r;
}

bool CommandScore::has(std::string_view id) const {
  return std::any_of(indicators.begin(), indicators.end(),
                     [&](const Indicator& i) { return i.id == id; });
}

CommandScore scoreCommand(const std::vector<std::string>& argv) {
  CommandScore score;
  std::string joined;
  for (const auto& a : argv) {
    if (!joined.empty()) joined += ' ';
    joined += a;
    if (!score.commandLine.empty()) score.commandLine += ' ';
    bool quote = a.empty() || a.find_first_of(" \t\"'\\$|;&<>") != std::string::npos;
    if (quote) {
      score.commandLine += '\'';
      for (char c : a) {
        if (c == '\'') {
          score.commandLine += "'\\''";
        } else {
          score.commandLine += c;
        }
      }
      score.commandLine += '\'';
    } else {
      score.commandLine += a;
    }
  }
  if (score.commandLine.size() > kMaxCommandLine) {
    score.commandLine.resize(kMaxCommandLine - 3);
    score.commandLine += "...";
  }
  Scanner s;
  s.line = lower(joined);
  s.ws = words(s.line);

  scanReverseShell(s);
  scanSecrets(s);
  scanDownloads(s);
  scanTools(s);

  // A bare shell with no script: an interactive session inside the container.
  if (!argv.empty()) {
    std::string_view prog = basename(argv[0]);
    bool shell = prog == "sh" || prog == "bash" || prog == "ash" || prog == "dash" ||
                 prog == "zsh" || prog == "ksh" || prog == "busybox";
    bool hasScript = std::find(argv.begin(), argv.end(), "-c") != argv.end();
    if (shell && !hasScript) {
      s.add("interactive_shell", Severity::kLow, "T1609", std::string(argv[0]));
    }
  }
  score.indicators = std::move(s.found);
  for (const auto& i : score.indicators) score.severity = std::max(score.severity, i.severity);
  return score;
}

}  // namespace kc::audit
