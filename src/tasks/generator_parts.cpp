#include "tasks/generator_parts.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace chunkllm::task_parts {
namespace {

// RULER's passkey filler: deliberately uninformative.
const char* kNoise = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

}  // namespace

const std::vector<std::string>& Words() {
  static const std::vector<std::string> w = {
      "apple", "river", "candle", "garden", "silver", "window", "forest", "harbor", "pencil", "mirror",
      "thunder", "meadow", "lantern", "castle", "pepper", "ribbon", "marble", "saddle", "valley", "copper",
      "feather", "anchor", "basket", "button", "carpet", "cherry", "cotton", "dragon", "falcon", "ginger",
      "hammer", "island", "jacket", "kettle", "ladder", "magnet", "needle", "orange", "parrot", "pillow",
      "rabbit", "rocket", "salmon", "tablet", "tunnel", "velvet", "wallet", "walnut", "zipper", "bridge",
      "blanket", "compass", "diamond", "engine", "fountain", "glacier", "helmet", "insect", "jungle", "kitten",
      "lemon", "monkey", "napkin", "oyster", "planet", "quartz", "rubber", "spider", "tomato", "violin",
      "whistle", "yogurt", "bamboo", "cactus", "donkey", "eagle", "fabric", "guitar", "honey", "iris",
      "jelly", "koala", "lizard", "mango", "nickel", "olive", "pirate", "quiver", "raven", "shadow",
      "tiger", "umbrella", "vessel", "wizard", "badge", "cabin", "desert", "ember", "flute", "grape"};
  return w;
}

std::string Digits(std::mt19937_64& rng, int n) {
  std::string s;
  s += char('1' + rng() % 9);
  while (int(s.size()) < n) s += char('0' + rng() % 10);
  return s;
}

std::string UpperName(std::mt19937_64& rng) {
  std::string s;
  for (int i = 0; i < 5; ++i) s += char('A' + rng() % 26);
  return s;
}

std::vector<std::string> PickWords(std::mt19937_64& rng, size_t n) {
  std::vector<std::string> all = Words();
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(std::min(n, all.size()));
  return all;
}

void ContextBuilder::Add(const std::string& s) {
  pieces.push_back(s);
  piece_tokens.push_back(count(s));
  tokens += piece_tokens.back();
}

void ContextBuilder::Insert(double depth, const std::string& needle) {
  const int target = int(depth * tokens);
  size_t at = 0;
  for (int acc = 0; at < pieces.size() && acc + piece_tokens[at] / 2 < target; ++at) acc += piece_tokens[at];
  pieces.insert(pieces.begin() + long(at), needle);
  piece_tokens.insert(piece_tokens.begin() + long(at), count(needle));
  tokens += piece_tokens[at];
}

std::string ContextBuilder::Text() const {
  std::string s;
  for (const auto& p : pieces) s += (s.empty() ? "" : " ") + p;
  return s;
}

void FillProse(ContextBuilder& b, const Haystack& h, std::mt19937_64& rng, int budget) {
  const auto& s = h.sentences();
  if (s.size() < 16) Fail("the haystack has only ", s.size(), " sentences; it needs real prose documents");
  size_t i = rng() % s.size();
  for (size_t n = 0; b.tokens < budget; ++n, i = (i + 1) % s.size()) {
    if (n > s.size() * 4) Fail("the haystack cannot fill ", budget, " tokens");
    b.Add(s[i]);
  }
}

void FillNoise(ContextBuilder& b, int budget) {
  while (b.tokens < budget) b.Add(kNoise);
}

void RedrawAmbiguousValues(const TaskSpec& spec, const std::string& prose, const std::vector<std::string>& values,
                           const std::vector<std::string>& needles, const std::function<void()>& draw) {
  auto ambiguous = [&] {
    for (size_t i = 0; i < values.size(); ++i) {
      if (prose.find(values[i]) != std::string::npos) return true;
      for (size_t k = 0; k < needles.size(); ++k)
        if (k != i && needles[k].find(values[i]) != std::string::npos) return true;
    }
    return false;
  };
  for (int attempt = 0; ambiguous(); ++attempt) {
    if (attempt == 16) Fail("task ", spec.task, " (seed ", spec.seed, "): no value found that the haystack lacks");
    draw();
  }
}

void InsertNeedles(ContextBuilder& b, std::mt19937_64& rng, double depth, const std::vector<std::string>& needles) {
  b.Insert(depth, needles[0]);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  for (size_t i = 1; i < needles.size(); ++i) b.Insert(uni(rng), needles[i]);
}

std::string Fill(std::string t, const std::string& slot, const std::string& value) {
  for (size_t at = t.find(slot); at != std::string::npos; at = t.find(slot, at + value.size())) {
    t.replace(at, slot.size(), value);
  }
  return t;
}

std::string Capitalised(std::string s) {
  if (!s.empty()) s[0] = char(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

}  // namespace chunkllm::task_parts
