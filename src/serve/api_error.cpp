#include "serve/api_error.h"

namespace chunkllm::serve {

ApiError::ApiError(int status, std::string message, std::string param, std::string code, std::string type)
    : std::runtime_error(std::move(message)), status_(status), param_(std::move(param)), code_(std::move(code)),
      type_(std::move(type)) {}

nlohmann::json ApiError::ToJson() const {
  const auto or_null = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
  nlohmann::json error = {{"message", what()}, {"type", type_}, {"param", or_null(param_)}, {"code", or_null(code_)}};
  return {{"error", std::move(error)}};
}

void BadRequest(const std::string& param, const std::string& message, const std::string& code) {
  throw ApiError(400, message, param, code);
}

}  // namespace chunkllm::serve
