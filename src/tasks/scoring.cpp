#include "tasks/scoring.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace chunkllm {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace

double StringMatchAll(const std::string& prediction, const std::vector<std::string>& answers) {
  if (answers.empty()) return 0.0;
  // "" is a substring of every prediction: it would score any output 1.
  for (const std::string& a : answers) {
    if (a.empty()) Fail("string_match_all: an expected answer is empty (it would match every prediction)");
  }
  const std::string p = Lower(prediction);
  int found = 0;
  for (const std::string& a : answers) found += p.find(Lower(a)) != std::string::npos;
  return double(found) / double(answers.size());
}

}  // namespace chunkllm
