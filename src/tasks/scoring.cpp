#include "tasks/scoring.h"

#include <algorithm>
#include <cctype>

namespace chunkllm {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace

double StringMatchAll(const std::string& prediction, const std::vector<std::string>& answers) {
  if (answers.empty()) return 0.0;
  const std::string p = Lower(prediction);
  int found = 0;
  for (const std::string& a : answers) found += p.find(Lower(a)) != std::string::npos;
  return double(found) / double(answers.size());
}

}  // namespace chunkllm
