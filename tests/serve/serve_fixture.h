// Helpers of the serve tests: a server in this process or as the real binary, on 127.0.0.1 and a
// port the system picks, and a client that posts JSON and reads server-sent events. Every wait
// is bounded.
#pragma once

#include <httplib.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/server.h"

namespace chunkllm::test {

using nlohmann::json;

// Options for the tiny random models of the tests: small slots, short micro-batches (so a
// prompt of a few dozen tokens is prefilled in several), two threads.
serve::ServeOptions TinyServeOptions(const std::string& model_path, int n_ctx = 512, int n_slots = 2);

// The server in this process: bound (Start) and loaded in the constructor unless load = false.
class InProcessServer {
 public:
  explicit InProcessServer(const serve::ServeOptions& options, bool load = true);
  void Load() { server_.Load(); }
  int port() const { return port_; }

 private:
  serve::Server server_;
  int port_;
};

// The binary (`chunkllm serve ARGS --port 0`), its address read from its stdout; SIGTERM at the end.
class ServerProcess {
 public:
  // Waits (at most timeout_s) until it says it is ready; on failure error() says why.
  ServerProcess(const std::vector<std::string>& args, int timeout_s = 60);
  ~ServerProcess();  // SIGTERM, then SIGKILL after 10 s
  bool ok() const { return port_ > 0; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Stops it with SIGTERM; returns its exit status (-1 if it had to be killed).
  int Terminate();
  long RssKb() const;  // VmRSS from /proc

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int port_ = -1;
  std::string error_;
};

struct HttpReply {
  int status = -1;  // -1: no answer
  std::string body;
  json j;  // the body parsed, null if it is not JSON
};

std::unique_ptr<httplib::Client> Client(int port, int timeout_s = 120);
HttpReply Post(int port, const std::string& path, const std::string& body, const httplib::Headers& headers = {});
HttpReply PostJson(int port, const std::string& path, const json& body, const httplib::Headers& headers = {});
HttpReply Get(int port, const std::string& path, const httplib::Headers& headers = {});

// The events of an SSE body: every "data: " payload parsed, and whether it ended with [DONE].
struct SseStream {
  std::vector<json> events;
  bool done = false;
  // The text of the choice's deltas (chat) or texts (completions), joined.
  std::string Text() const;
  // The event with a finish_reason (null if none).
  json Final() const;
};
SseStream ParseSse(const std::string& body);

// The text of a non-streamed answer (chat: message.content; completions: text).
std::string AnswerText(const json& body);

// Waits (at most timeout_s) until /metrics shows `value` for `name`; false if it never did.
bool WaitForMetric(int port, const std::string& name, double value, int timeout_s);

// A metric's value in a /metrics text (NaN if absent); `name` with its labels, e.g.
// chunkllm_slots_busy or chunkllm_requests_total{endpoint="chat",status="200"}.
double MetricValue(const std::string& metrics, const std::string& name);

}  // namespace chunkllm::test
