// Errors: one exception type that carries a message meant for the user.
// Every message names the file, field or flag, what was expected and what was found.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace chunkllm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Concatenates any streamable values: Str("layer ", il, " has ", n, " heads").
template <typename... Args>
std::string Str(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <typename... Args>
[[noreturn]] void Fail(Args&&... args) {
  throw Error(Str(std::forward<Args>(args)...));
}

}  // namespace chunkllm
