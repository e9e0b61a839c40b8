// The HTTP routes of `chunkllm serve`, on cpp-httplib:
//   POST /v1/chat/completions, POST /v1/completions   (stream or not; serve/openai_format.h)
//   GET /v1/models, GET /health (503 while loading), GET /metrics (Prometheus text)
// Every refusal is an OpenAI error object (serve/api_error.h): bad requests 400 naming the
// field, a missing or wrong API key 401 (Authorization: Bearer KEY; /health needs none), an
// unknown route 404, a body over the limit 413, a full queue or a loading model 503.
#pragma once

#include "serve/server_state.h"

namespace httplib {
class Server;
}

namespace chunkllm::serve {

// Registers the routes, the API key check and the error handlers; `state` must outlive `http`'s
// serving.
void AddRoutes(httplib::Server& http, ServerState& state);

}  // namespace chunkllm::serve
