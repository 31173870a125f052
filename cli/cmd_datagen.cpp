// cmd_datagen.cpp — `generate-data`: the procedural data factory (np/datagen.h) on the
// command line. Writes Needle-format JSONL from the content in data/factory/, optionally a
// statistics report; `--check-disjoint A B` checks that two files share no tool name,
// description or parameter name (train vs test); `--validate` only loads the content.
// `--teacher-url http://host:port/v1` asks an OpenAI-compatible chat-completions server
// (llama.cpp, Ollama, ...) to rephrase queries; a minimal HTTP/1.1 client (plain http only,
// for a local server) lives here, the validation of its replies in core.
// Errors: "error: CODE: message" on stderr, exit 1 (2 for a usage error).
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "np/datagen.h"
#include "np/gguf.h"
#include "np/tokenizer.h"

namespace np_cli {
namespace {

// --content DIR, else ./data/factory, else <dir of the executable>/../data/factory (the
// build directories sit in the repository root).
std::string content_dir(const Args& args) {
  std::string dir;
  if (arg_value(args, "--content", &dir)) return dir;
  std::error_code ec;
  if (std::filesystem::is_directory("data/factory/categories", ec)) return "data/factory";
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path p = exe.parent_path().parent_path() / "data" / "factory";
    if (std::filesystem::is_directory(p / "categories", ec)) return p.string();
  }
  return "data/factory";
}

bool parse_int(const std::string& s, long long lo, long long hi, long long* out) {
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool parse_share(const std::string& s, double* out) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end || !(v >= 0 && v <= 1)) return false;
  *out = v;
  return true;
}

// ---- a minimal HTTP client for the teacher ------------------------------------------------

struct HttpUrl {
  std::string host, port, path;
};

// "http://127.0.0.1:8080/v1" -> host, port, path ending in "/chat/completions".
bool parse_teacher_url(const std::string& url, HttpUrl* out, std::string* err) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) {
    *err = "--teacher-url must start with http:// (a local OpenAI-compatible server; no TLS)";
    return false;
  }
  const std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  const std::string hostport = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? std::string() : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.pop_back();
  const std::string suffix = "/chat/completions";
  if (path.size() < suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0)
    path += suffix;
  const size_t colon = hostport.rfind(':');
  out->host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  out->port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  out->path = path;
  if (out->host.empty() || out->port.empty()) {
    *err = "--teacher-url has no host: " + url;
    return false;
  }
  return true;
}

std::string lower_str(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// POST body as JSON; the response body of a 200, else an error naming the status.
np::Result<std::string> http_post_json(const HttpUrl& u, const std::string& body, int timeout_s) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &res))
    return np::Status(np::Code::kIoError, "teacher: cannot resolve " + u.host + ": " + gai_strerror(rc));
  int fd = -1;
  for (addrinfo* a = res; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv{};
    tv.tv_sec = timeout_s;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) return np::Status(np::Code::kIoError, "teacher: cannot connect to " + u.host + ":" + u.port);
  const std::string req = "POST " + u.path + " HTTP/1.1\r\nHost: " + u.host + ":" + u.port +
                          "\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  size_t sent = 0;
  while (sent < req.size()) {
    const ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return np::Status(np::Code::kIoError, "teacher: send failed");
    }
    sent += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[16384];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return np::Status(np::Code::kIoError, "teacher: no reply within " + std::to_string(timeout_s) + " s");
    }
    if (n == 0) break;
    resp.append(buf, static_cast<size_t>(n));
    if (resp.size() > (size_t{16} << 20)) break;
  }
  close(fd);
  const size_t head_end = resp.find("\r\n\r\n");
  if (resp.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos)
    return np::Status(np::Code::kIoError, "teacher: not an HTTP response");
  const size_t sp = resp.find(' ');
  const int code = std::atoi(resp.c_str() + sp + 1);
  const std::string head = lower_str(resp.substr(0, head_end));
  std::string out = resp.substr(head_end + 4);
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    std::string plain;
    size_t pos = 0;
    for (;;) {
      const size_t eol = out.find("\r\n", pos);
      if (eol == std::string::npos) break;
      const size_t len = std::strtoul(out.substr(pos, eol - pos).c_str(), nullptr, 16);
      if (len == 0 || eol + 2 + len > out.size()) break;
      plain += out.substr(eol + 2, len);
      pos = eol + 2 + len + 2;
    }
    out = plain;
  }
  if (code != 200)
    return np::Status(np::Code::kIoError, "teacher: HTTP " + std::to_string(code) + ": " + out.substr(0, 200));
  return out;
}

// The TeacherFn over an OpenAI-compatible /chat/completions endpoint.
np::TeacherFn http_teacher(const HttpUrl& url, const std::string& model, int timeout_s) {
  return [url, model, timeout_s](const std::string& system, const std::string& user) -> np::Result<std::string> {
    using json = nlohmann::ordered_json;
    json req = json::object();
    req["model"] = model;
    req["messages"] = json::array({json{{"role", "system"}, {"content", system}}, json{{"role", "user"}, {"content", user}}});
    req["temperature"] = 0.7;
    req["stream"] = false;
    auto body = http_post_json(url, req.dump(-1, ' ', false, json::error_handler_t::replace), timeout_s);
    if (!body.ok()) return body.status();
    const json r = json::parse(body.value(), nullptr, /*allow_exceptions=*/false);
    if (!r.is_object() || !r.contains("choices") || !r["choices"].is_array() || r["choices"].empty() ||
        !r["choices"][0].is_object() || !r["choices"][0].contains("message") ||
        !r["choices"][0]["message"].is_object() || !r["choices"][0]["message"].contains("content") ||
        !r["choices"][0]["message"]["content"].is_string())
      return np::Status(np::Code::kInvalidInput, "teacher: reply has no choices[0].message.content");
    return r["choices"][0]["message"]["content"].get<std::string>();
  };
}

int check_disjoint_cmd(const Args& args) {
  size_t i = 0;
  while (i < args.size() && args[i] != "--check-disjoint") ++i;
  if (i + 2 >= args.size()) return usage_error("--check-disjoint needs two files: TRAIN.jsonl TEST.jsonl");
  np::DisjointReport r;
  np::Status st = np::check_disjoint(args[i + 1], args[i + 2], &r);
  if (!st.ok()) return fail(st.to_string());
  std::printf("%s: %lld examples, %lld tools; %s: %lld examples, %lld tools\n", args[i + 1].c_str(),
              static_cast<long long>(r.a_examples), static_cast<long long>(r.a_tools), args[i + 2].c_str(),
              static_cast<long long>(r.b_examples), static_cast<long long>(r.b_tools));
  auto show = [](const char* what, const std::vector<std::string>& v) {
    std::printf("shared %s: %zu", what, v.size());
    for (size_t k = 0; k < v.size() && k < 10; ++k) std::printf("%s\"%s\"", k ? ", " : " (", v[k].c_str());
    std::printf("%s\n", v.empty() ? "" : (v.size() > 10 ? ", ...)" : ")"));
  };
  show("tool names", r.shared_names);
  show("descriptions", r.shared_descriptions);
  show("parameter names", r.shared_params);
  if (!r.disjoint()) return fail("INVALID_INPUT: the files share tool names, descriptions or parameter names");
  std::printf("disjoint\n");
  return 0;
}

}  // namespace

int cmd_generate_data(const Args& args) {
  if (arg_flag(args, "--check-disjoint")) return check_disjoint_cmd(args);

  const std::string dir = content_dir(args);
  auto factory = np::DataFactory::load(dir);
  if (!factory.ok()) return fail(factory.status().to_string());
  const np::ContentCounts& n = factory.value()->counts();
  if (arg_flag(args, "--validate")) {
    std::printf("%s: %lld categories, %lld tools (%lld train, %lld test), %lld templates, %lld slot values, "
                "%lld no-call queries\n",
                dir.c_str(), static_cast<long long>(n.categories), static_cast<long long>(n.tools),
                static_cast<long long>(n.train_tools), static_cast<long long>(n.test_tools),
                static_cast<long long>(n.templates), static_cast<long long>(n.slot_values),
                static_cast<long long>(n.no_call_queries));
    return 0;
  }

  np::DatagenOptions o;
  std::string out_path, v;
  if (!arg_value(args, "--out", &out_path)) return usage_error("generate-data needs --out D.jsonl");
  long long num = 0;
  if (!arg_value(args, "--count", &v) || !parse_int(v, 0, 100000000, &num))
    return usage_error("generate-data needs --count N (0 to 100000000)");
  o.count = num;
  if (arg_value(args, "--seed", &v)) {
    if (!parse_int(v, 0, (1ll << 62), &num)) return usage_error("--seed needs a non-negative integer");
    o.seed = static_cast<uint64_t>(num);
  }
  if (arg_value(args, "--split", &v) && !np::data_split_from_name(v, &o.split))
    return usage_error("--split must be train, dev or test");
  if (arg_value(args, "--multi", &v) && !parse_share(v, &o.multi_share)) return usage_error("--multi needs a share in [0, 1]");
  if (arg_value(args, "--none", &v) && !parse_share(v, &o.none_share)) return usage_error("--none needs a share in [0, 1]");
  if (arg_value(args, "--typos", &v) && !parse_share(v, &o.typo_share)) return usage_error("--typos needs a share in [0, 1]");
  if (arg_value(args, "--max-tools", &v)) {
    if (!parse_int(v, 1, 10, &num)) return usage_error("--max-tools needs 1 to 10");
    o.max_tools = static_cast<int32_t>(num);
  }

  // --avoid a.jsonl[,b.jsonl]: examples not to repeat (dev and test against train).
  if (arg_value(args, "--avoid", &v)) {
    size_t pos = 0;
    while (pos <= v.size()) {
      const size_t comma = v.find(',', pos);
      const std::string path = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      if (!path.empty()) o.avoid_files.push_back(path);
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }

  // Optional teacher.
  np::TeacherFn teacher;
  std::string teacher_url;
  if (arg_value(args, "--teacher-url", &teacher_url)) {
    HttpUrl url;
    std::string err;
    if (!parse_teacher_url(teacher_url, &url, &err)) return usage_error(err);
    std::string model = "teacher";
    arg_value(args, "--teacher-model", &model);
    long long timeout = 60;
    if (arg_value(args, "--teacher-timeout", &v) && !parse_int(v, 1, 3600, &timeout))
      return usage_error("--teacher-timeout needs seconds (1 to 3600)");
    o.teacher_share = 0.2;
    if (arg_value(args, "--teacher-share", &v) && !parse_share(v, &o.teacher_share))
      return usage_error("--teacher-share needs a share in [0, 1]");
    teacher = http_teacher(url, model, static_cast<int>(timeout));
  }

  // Optional tokenizer for token lengths in the report.
  np::Tokenizer tok;
  bool have_tok = false;
  std::string spm, model;
  if (arg_value(args, "--spm", &spm)) {
    auto t = np::Tokenizer::from_spm_file(spm);
    if (!t.ok()) return fail(t.status().to_string());
    tok = t.take();
    have_tok = true;
  } else if (arg_value(args, "--model", &model)) {
    auto file = np::GgufFile::open_file(model);
    if (!file.ok()) return fail(file.status().to_string());
    auto t = np::Tokenizer::from_gguf(*file.value());
    if (!t.ok()) return fail(model + ": " + t.status().to_string());
    tok = t.take();
    have_tok = true;
  }

  // Lines go to the file as they are made (a large set never sits in memory).
  std::FILE* f = std::fopen(out_path.c_str(), "wb");
  if (!f) return fail("IO_ERROR: cannot open " + out_path + " for writing");
  const auto t0 = std::chrono::steady_clock::now();
  np::DatagenStats stats;
  np::Status st = factory.value()->generate_to(
      o, have_tok ? &tok : nullptr,
      [f, &out_path](const std::string& line) {
        if (std::fwrite(line.data(), 1, line.size(), f) != line.size() || std::fputc('\n', f) == EOF)
          return np::Status(np::Code::kIoError, "writing " + out_path + " failed");
        return np::Status::Ok();
      },
      &stats, teacher ? &teacher : nullptr);
  const bool closed = std::fclose(f) == 0;
  if (!st.ok()) return fail(st.to_string());
  if (!closed) return fail("IO_ERROR: writing " + out_path + " failed");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::string stats_path;
  if (arg_value(args, "--stats", &stats_path)) {
    stats.seconds = secs;
    std::string report = stats.to_json();
    std::FILE* s = std::fopen(stats_path.c_str(), "wb");
    if (!s) return fail("IO_ERROR: cannot open " + stats_path + " for writing");
    report.push_back('\n');
    const bool sok = std::fwrite(report.data(), 1, report.size(), s) == report.size();
    if (std::fclose(s) != 0 || !sok) return fail("IO_ERROR: writing " + stats_path + " failed");
  }
  std::fprintf(stderr, "wrote %lld %s examples to %s in %.2f s (%lld one call, %lld two calls, %lld no call; "
               "%lld duplicates redrawn)\n",
               static_cast<long long>(stats.examples), np::data_split_name(o.split), out_path.c_str(), secs,
               static_cast<long long>(stats.single), static_cast<long long>(stats.multi),
               static_cast<long long>(stats.none), static_cast<long long>(stats.duplicates_rejected));
  if (stats.teacher_asked > 0)
    std::fprintf(stderr, "teacher: %lld asked, %lld accepted, %lld rejected, %lld failed\n",
                 static_cast<long long>(stats.teacher_asked), static_cast<long long>(stats.teacher_accepted),
                 static_cast<long long>(stats.teacher_rejected), static_cast<long long>(stats.teacher_errors));
  return 0;
}

}  // namespace np_cli
