#include "serve/serve_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

extern char** environ;

namespace chunkllm::test {

serve::ServeOptions TinyServeOptions(const std::string& model_path, int n_ctx, int n_slots) {
  serve::ServeOptions o;
  o.model_path = model_path;
  o.port = 0;
  o.n_slots = n_slots;
  o.session.n_ctx = n_ctx;
  o.session.n_ubatch = 16;
  o.session.n_threads = 2;
  return o;
}

InProcessServer::InProcessServer(const serve::ServeOptions& options, bool load) : server_(options) {
  port_ = server_.Start();
  if (load) server_.Load();
}

ServerProcess::ServerProcess(const std::vector<std::string>& args, int timeout_s) {
  const char* env_bin = std::getenv("CHUNKLLM_BIN");
  const std::string bin = env_bin && *env_bin ? env_bin : CHUNKLLM_BIN;
  std::vector<std::string> argv_s = {bin, "serve"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  argv_s.insert(argv_s.end(), {"--port", "0", "--host", "127.0.0.1"});
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) {
    error_ = "pipe failed";
    return;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pipe_fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, pipe_fds[0]);
  const int rc = posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pipe_fds[1]);
  out_fd_ = pipe_fds[0];
  if (rc != 0) {
    pid_ = -1;
    error_ = "cannot spawn " + bin;
    return;
  }
  // Read its stdout until "ready", within the deadline.
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int port = -1;
  while (out.find("ready") == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      error_ = "not ready in time; stdout: " + out;
      return;
    }
    pollfd p = {out_fd_, POLLIN, 0};
    if (poll(&p, 1, int(left.count())) <= 0) continue;
    char buf[512];
    const ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n <= 0) {
      error_ = "the server ended before it was ready; stdout: " + out;
      return;
    }
    out.append(buf, size_t(n));
  }
  const std::string tag = "listening on http://127.0.0.1:";
  const size_t at = out.find(tag);
  if (at != std::string::npos) port = std::atoi(out.c_str() + at + tag.size());
  if (port <= 0) error_ = "no port in: " + out;
  port_ = port;
}

int ServerProcess::Terminate() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int waited_ms = 0;; waited_ms += 10) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) break;
    if (waited_ms > 10000) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    usleep(10000);
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ServerProcess::~ServerProcess() {
  Terminate();
  if (out_fd_ >= 0) close(out_fd_);
}

long ServerProcess::RssKb() const {
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

std::unique_ptr<httplib::Client> Client(int port, int timeout_s) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_connection_timeout(5);
  c->set_read_timeout(timeout_s);
  c->set_write_timeout(timeout_s);
  return c;
}

namespace {

HttpReply FromResult(const httplib::Result& r) {
  HttpReply out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  out.j = json::parse(r->body, nullptr, false);
  if (out.j.is_discarded()) out.j = nullptr;
  return out;
}

}  // namespace

HttpReply Post(int port, const std::string& path, const std::string& body, const httplib::Headers& headers) {
  return FromResult(Client(port)->Post(path.c_str(), headers, body, "application/json"));
}

HttpReply PostJson(int port, const std::string& path, const json& body, const httplib::Headers& headers) {
  return Post(port, path, body.dump(), headers);
}

HttpReply Get(int port, const std::string& path, const httplib::Headers& headers) {
  return FromResult(Client(port)->Get(path.c_str(), headers));
}

SseStream ParseSse(const std::string& body) {
  SseStream s;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("data: ", 0) != 0) continue;
    const std::string payload = line.substr(6);
    if (payload == "[DONE]") {
      s.done = true;
      continue;
    }
    s.events.push_back(json::parse(payload, nullptr, false));
  }
  return s;
}

std::string SseStream::Text() const {
  std::string text;
  for (const json& e : events) {
    if (!e.is_object() || !e.contains("choices") || e["choices"].empty()) continue;
    const json& c = e["choices"][0];
    if (c.contains("text")) text += c["text"].get<std::string>();
    if (c.contains("delta") && c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
  }
  return text;
}

json SseStream::Final() const {
  for (const json& e : events) {
    if (e.is_object() && e.contains("choices") && !e["choices"].empty() && !e["choices"][0]["finish_reason"].is_null()) {
      return e;
    }
  }
  return nullptr;
}

std::string AnswerText(const json& body) {
  const json& c = body.at("choices").at(0);
  return c.contains("message") ? c["message"]["content"].get<std::string>() : c["text"].get<std::string>();
}

double MetricValue(const std::string& metrics, const std::string& name) {
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::atof(line.c_str() + name.size() + 1);
  }
  return NAN;
}

bool WaitForMetric(int port, const std::string& name, double value, int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (MetricValue(Get(port, "/metrics").body, name) == value) return true;
    usleep(20000);
  }
  return false;
}

}  // namespace chunkllm::test
