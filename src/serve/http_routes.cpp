#include "serve/http_routes.h"

#include <httplib.h>

#include <chrono>

#include "core/error.h"
#include "serve/client_connection.h"
#include "serve/openai_format.h"

namespace chunkllm::serve {

namespace {

using nlohmann::json;
using httplib::Request;
using httplib::Response;

// How often a waiting handler looks whether its client is still there.
constexpr std::chrono::milliseconds kPollInterval{50};
// The status a request gets when its client left before the answer (nginx's convention).
constexpr int kClientClosed = 499;

void Reply(Response& res, const ApiError& e) {
  res.status = e.status();
  res.set_content(DumpJson(e.ToJson()), "application/json");
}

ApiError Unavailable(const std::string& message) { return ApiError(503, message, "", "", "unavailable_error"); }

// Compares without an early exit, so the time taken does not tell how much of a key was right.
bool SameKey(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

// The task of a checked request: the prompt's tokens must fit in a slot with max_tokens.
std::shared_ptr<GenerationTask> MakeTask(ServerState& st, const CompletionRequest& r) {
  const bool chat = r.endpoint == Endpoint::kChat;
  auto task = std::make_shared<GenerationTask>();
  task->spec = &st.specs->default_spec();
  if (r.method) {
    try {
      task->spec = &st.specs->Get(*r.method);
    } catch (const Error& e) {
      BadRequest("chunkllm.attn", e.what());
    }
  }
  std::string text = r.prompt;
  if (chat) {
    try {
      text = st.tokenizer->ApplyChatTemplate(r.messages, st.chat_template);
    } catch (const Error& e) {
      BadRequest("messages", e.what());
    }
  }
  try {
    task->prompt = st.tokenizer->Tokenize(text, /*add_special=*/true, /*parse_special=*/chat);
  } catch (const Error& e) {
    BadRequest(r.prompt_param(), e.what());
  }
  if (task->prompt.empty()) BadRequest(r.prompt_param(), "the prompt is empty");
  const int64_t n_ctx = st.options.session.n_ctx, n_prompt = int64_t(task->prompt.size());
  if (n_prompt > n_ctx) {
    BadRequest(r.prompt_param(),
               Str("the prompt has ", n_prompt, " tokens but a slot's context holds ", n_ctx, " (-c)"),
               "context_length_exceeded");
  }
  if (r.max_tokens && n_prompt + *r.max_tokens > n_ctx) {
    BadRequest(r.max_tokens_param,
               Str("the prompt's ", n_prompt, " tokens and ", r.max_tokens_param, " ", *r.max_tokens,
                   " exceed a slot's context of ", n_ctx, " tokens (-c)"),
               "context_length_exceeded");
  }
  task->sampler = r.sampler;
  task->n_predict = r.max_tokens.value_or(-1);
  task->stop = r.stop;
  task->return_progress = r.stream && r.return_progress;
  task->ignore_eos = r.ignore_eos;
  return task;
}

// Non-streaming: gathers the text until the end, watching the client.
int Answer(GenerationTask& task, const ResponseHeader& h, const ClientConnection& conn, Response& res) {
  std::string text;
  for (;;) {
    // Before every event, not only when none came: a quick model sends text faster than the
    // poll interval, and would otherwise generate to its limit for a client that left.
    if (conn.closed()) {
      task.channel.Cancel();
      return kClientClosed;
    }
    std::optional<TaskEvent> e = task.channel.Pop(kPollInterval);
    if (!e) continue;
    switch (e->kind) {
      case TaskEvent::Kind::kProgress:
        break;
      case TaskEvent::Kind::kText:
        text += e->text;
        break;
      case TaskEvent::Kind::kDone:
        res.status = 200;
        res.set_content(DumpJson(CompletionBody(h, text, e->result)), "application/json");
        return 200;
      case TaskEvent::Kind::kError:
        Reply(res, *e->error);
        return e->error->status();
    }
  }
}

// Streaming: server-sent events as the scheduler reports them, ending with "data: [DONE]".
void Stream(std::shared_ptr<GenerationTask> task, const ResponseHeader& h, bool include_usage,
            std::shared_ptr<ClientConnection> conn, Response& res) {
  res.set_header("Cache-Control", "no-cache");
  auto first = std::make_shared<bool>(true);
  res.set_chunked_content_provider(
      "text/event-stream",
      [task, h, include_usage, conn, first](size_t, httplib::DataSink& sink) {
        std::string out;
        if (*first && h.endpoint == Endpoint::kChat) out += SseEvent(TextChunk(h, "", true));  // the role
        *first = false;
        if (conn->closed()) {  // before every event, as in Answer
          task->channel.Cancel();
          return false;
        }
        std::optional<TaskEvent> e = task->channel.Pop(kPollInterval);
        bool end = false;
        if (!e) {
          // nothing yet: write nothing, and httplib calls again
        } else if (e->kind == TaskEvent::Kind::kProgress) {
          out += SseEvent(ProgressChunk(h, e->done, e->total, e->cached));
        } else if (e->kind == TaskEvent::Kind::kText) {
          out += SseEvent(TextChunk(h, e->text, false));
        } else if (e->kind == TaskEvent::Kind::kDone) {
          out += SseEvent(FinalChunk(h, e->result));
          if (include_usage) out += SseEvent(UsageChunk(h, e->result));
          end = true;
        } else {
          out += SseEvent(e->error->ToJson());
          end = true;
        }
        if (end) out += "data: [DONE]\n\n";
        if (!out.empty() && !sink.write(out.data(), out.size())) {
          task->channel.Cancel();  // the client went away
          return false;
        }
        if (end) sink.done();
        return true;
      },
      [task](bool) { task->channel.Cancel(); });  // whatever ended the response frees the slot
}

void HandleCompletion(ServerState& st, Endpoint endpoint, const Request& req, Response& res) {
  const char* name = endpoint == Endpoint::kChat ? "chat" : "completion";
  int status = 200;
  try {
    if (!st.ready) throw Unavailable("the model is loading");
    const CompletionRequest r = ParseCompletionRequest(req.body, endpoint, st.max_prompt_bytes);
    std::shared_ptr<GenerationTask> task = MakeTask(st, r);
    if (!st.scheduler->Submit(task)) {
      throw Unavailable(Str("all ", st.options.n_slots, " slots are busy and ", st.options.max_queue,
                            " requests wait already; try again later"));
    }
    const ResponseHeader h = NewResponseHeader(endpoint, r.model.empty() ? st.model_id : r.model);
    auto conn = std::make_shared<ClientConnection>(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
    if (r.stream) {
      Stream(task, h, r.include_usage, conn, res);
    } else {
      status = Answer(*task, h, *conn, res);
    }
  } catch (const ApiError& e) {
    Reply(res, e);
    status = e.status();
  }
  st.metrics.CountRequest(name, status);
}

}  // namespace

void AddRoutes(httplib::Server& http, ServerState& st) {
  http.set_pre_routing_handler([&st](const Request& req, Response& res) {
    if (st.options.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string bearer = "Bearer ";
    if (auth.compare(0, bearer.size(), bearer) == 0 && SameKey(auth.substr(bearer.size()), st.options.api_key)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    Reply(res, ApiError(401, auth.empty() ? "no API key: send the header 'Authorization: Bearer KEY'" : "invalid API key",
                        "", "invalid_api_key", "authentication_error"));
    st.metrics.CountRequest("auth", 401);
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors httplib finds itself (no route, a body over the limit) get the same error object.
  http.set_error_handler(httplib::Server::HandlerWithResponse([&st](const Request& req, Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // one of ours
    if (res.status == 404) {
      Reply(res, ApiError(404, "no route " + req.method + " " + req.path, "", "not_found", "not_found_error"));
    } else if (res.status == 413) {
      Reply(res, ApiError(413, Str("the request body is larger than the ", st.options.max_body_bytes,
                                   " bytes this server takes (--max-body)"),
                          "", "request_too_large"));
    } else {
      Reply(res, ApiError(res.status, "the request could not be read", "", "", "invalid_request_error"));
    }
    st.metrics.CountRequest("other", res.status);
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    Reply(res, ApiError(500, what, "", "", "server_error"));
  });

  http.Get("/health", [&st](const Request&, Response& res) {
    if (!st.ready) return Reply(res, Unavailable("the model is loading"));
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  http.Get("/metrics", [&st](const Request&, Response& res) {
    res.set_content(st.metrics.Render(), "text/plain; version=0.0.4");
  });
  http.Get("/v1/models", [&st](const Request&, Response& res) {
    if (!st.ready) return Reply(res, Unavailable("the model is loading"));
    const json model = {{"id", st.model_id},
                        {"object", "model"},
                        {"created", st.created},
                        {"owned_by", "chunkllm"},
                        {"chunkllm",
                         {{"n_ctx_slot", st.options.session.n_ctx},
                          {"n_slots", st.options.n_slots},
                          {"attn", st.specs->default_spec().name()}}}};
    res.set_content(DumpJson({{"object", "list"}, {"data", json::array({model})}}), "application/json");
  });
  http.Post("/v1/chat/completions",
            [&st](const Request& req, Response& res) { HandleCompletion(st, Endpoint::kChat, req, res); });
  http.Post("/v1/completions",
            [&st](const Request& req, Response& res) { HandleCompletion(st, Endpoint::kCompletion, req, res); });
}

}  // namespace chunkllm::serve
