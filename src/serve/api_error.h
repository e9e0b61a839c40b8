// ApiError: a request the server refuses, as OpenAI's API refuses it: an HTTP status and the
// error object {"error": {"message", "type", "param", "code"}}, `param` naming the request field
// at fault (null when no field is: a body that is not JSON, an unknown route, a missing key).
// Thrown by request parsing and the handlers; the routes turn it into the response, and the
// server goes on serving.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace chunkllm::serve {

class ApiError : public std::runtime_error {
 public:
  // type: OpenAI's error type ("invalid_request_error", "authentication_error", ...); empty
  // param: null in the object; empty code: null.
  ApiError(int status, std::string message, std::string param = "", std::string code = "",
           std::string type = "invalid_request_error");

  int status() const { return status_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  const std::string& type() const { return type_; }
  // {"error": {...}}
  nlohmann::json ToJson() const;

 private:
  int status_;
  std::string param_, code_, type_;
};

// A 400 invalid_request_error naming `param`.
[[noreturn]] void BadRequest(const std::string& param, const std::string& message, const std::string& code = "");

}  // namespace chunkllm::serve
