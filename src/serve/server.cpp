#include "serve/server.h"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "serve/http_routes.h"
#include "serve/server_state.h"

namespace chunkllm::serve {

Server::Server(const ServeOptions& options) : state_(std::make_unique<ServerState>()) {
  ServeOptions& o = state_->options;
  o = options;
  if (o.n_slots < 1) Fail("-np must be at least 1, got ", o.n_slots);
  if (o.max_queue < 0) Fail("--max-queue must be 0 or more, got ", o.max_queue);
  if (o.port < 0 || o.port > 65535) Fail("--port must be in [0, 65535], got ", o.port);
  if (o.session.n_ctx <= 0 || o.session.n_ctx > kMaxContext) {
    Fail("-c must be in [1, ", kMaxContext, "], got ", o.session.n_ctx);
  }
}

Server::~Server() { Stop(); }

int Server::Start() {
  ServerState& st = *state_;
  http_ = std::make_unique<httplib::Server>();
  // Every connection holds a thread while it is open (keep-alive included): enough of them that
  // the slots and the queue fill before connections wait in httplib's own, unbounded, queue.
  const int threads = st.options.http_threads > 0 ? st.options.http_threads
                                                  : 2 * (st.options.n_slots + st.options.max_queue) + 8;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  AddRoutes(*http_, st);
  // The tokenizer (a vocabulary-only load, quick) bounds the body before the first request: the
  // text of a prompt that -c tokens can hold, every byte escaped as \uXXXX, and room for the rest.
  st.tokenizer = Tokenizer::Load(st.options.model_path);
  st.max_prompt_bytes = st.tokenizer->PromptLimit(st.options.session.n_ctx).max_bytes;
  if (st.options.max_body_bytes == 0) st.options.max_body_bytes = 6 * st.max_prompt_bytes + (1 << 16);
  http_->set_payload_max_length(st.options.max_body_bytes);
  if (st.options.port == 0) {
    port_ = http_->bind_to_any_port(st.options.host);
  } else {
    port_ = http_->bind_to_port(st.options.host, st.options.port) ? st.options.port : -1;
  }
  if (port_ < 0) {
    Fail("cannot listen on ", st.options.host, ":", st.options.port, " (in use, or not an address of this machine)");
  }
  listener_ = std::thread([this] { http_->listen_after_bind(); });
  return port_;
}

void Server::Load() {
  ServerState& st = *state_;
  const ServeOptions& o = st.options;
  st.model = Model::Load(o.model_path);
  if (st.tokenizer->n_vocab() != st.model->config().n_vocab) {
    Fail(o.model_path, ": the tokenizer has ", st.tokenizer->n_vocab(), " tokens but the model's vocab size is ",
         st.model->config().n_vocab);
  }
  // A model without a chat template gets ChatML, as llama-server does.
  st.chat_template = !o.chat_template.empty() ? o.chat_template : st.tokenizer->has_chat_template() ? "" : "chatml";
  st.tokenizer->ApplyChatTemplate({{"user", "check"}}, st.chat_template);  // an unknown template fails here
  st.specs = std::make_unique<PolicySpecs>(*st.model, o.attention);
  st.scheduler = std::make_unique<Scheduler>(*st.model, *st.tokenizer, o.session, o.n_slots, o.max_queue, st.metrics);
  st.model_id = std::filesystem::path(o.model_path).filename().string();
  st.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  st.ready = true;
}

void Server::Stop() {
  if (http_) http_->stop();
  if (listener_.joinable()) listener_.join();
  // After the HTTP threads are gone: nothing waits on a task any more.
  state_->scheduler.reset();
}

void RunServe(const ServeOptions& options) {
  // SIGINT and SIGTERM are taken by sigwait below: blocked before any thread starts, so every
  // thread inherits the mask and none of them is interrupted.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is a failed write, not the end of the server

  Server server(options);
  const int port = server.Start();
  std::printf("chunkllm serve: listening on http://%s:%d\n", options.host.c_str(), port);
  std::fflush(stdout);
  server.Load();
  std::printf("chunkllm serve: ready (%d slots of %d tokens)\n", options.n_slots, options.session.n_ctx);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "chunkllm serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  server.Stop();
}

}  // namespace chunkllm::serve
