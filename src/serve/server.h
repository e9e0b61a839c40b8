// Server: `chunkllm serve`'s HTTP server (cpp-httplib) over the Scheduler's slots. Start() binds
// the socket and answers at once (GET /health says 503 while loading); Load() reads the model,
// the tokenizer and the default method's adapters and starts the slots; then the completion
// endpoints serve. The routes: serve/http_routes.h.
#pragma once

#include <memory>
#include <thread>

#include "serve/serve_options.h"

namespace httplib {
class Server;
}

namespace chunkllm::serve {

struct ServerState;

class Server {
 public:
  explicit Server(const ServeOptions& options);
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (port 0: a free one) and starts answering on a thread of its own; returns the
  // bound port. Throws Error when it cannot bind.
  int Start();
  // Loads what the completions need; /health answers 200 afterwards. Throws Error (bad model,
  // adapters, flags); the server then goes on answering 503.
  void Load();
  // Stops answering and the slots (requests still running end with an error); idempotent.
  void Stop();
  int port() const { return port_; }

 private:
  std::unique_ptr<ServerState> state_;
  std::unique_ptr<httplib::Server> http_;
  std::thread listener_;
  int port_ = -1;
};

// `chunkllm serve`: Start, print the address on stdout ("listening on http://HOST:PORT"), Load,
// print "ready", serve until SIGINT or SIGTERM. Throws Error when it cannot start.
void RunServe(const ServeOptions& options);

}  // namespace chunkllm::serve
