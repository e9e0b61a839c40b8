#include "train/adapter_data.h"

#include <algorithm>
#include <random>

#include "core/error.h"
#include "core/file_util.h"
#include "text/sentence_splitter.h"
#include "text/token_spans.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

void Cut(const AdapterCorpus& c, size_t start, int T, std::vector<int32_t>& tok, std::vector<uint8_t>& lab) {
  const size_t n = std::min(size_t(std::max(T - 1, 0)), c.tokens.size() - start);
  tok.assign(1, c.bos);
  lab.assign(1, 0);
  tok.insert(tok.end(), c.tokens.begin() + long(start), c.tokens.begin() + long(start + n));
  lab.insert(lab.end(), c.labels.begin() + long(start), c.labels.begin() + long(start + n));
}

}  // namespace

void AdapterCorpus::Window(uint64_t seed, int64_t step, int T, std::vector<int32_t>& tok,
                           std::vector<uint8_t>& lab) const {
  std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(step), uint32_t(uint64_t(step) >> 32), uint32_t(T)};
  std::mt19937_64 rng(seq);
  const size_t span = tokens.size() > size_t(T - 1) ? tokens.size() - size_t(T - 1) : 1;
  Cut(*this, size_t(rng() % span), T, tok, lab);
}

void AdapterCorpus::FixedWindow(int i, int n, int T, std::vector<int32_t>& tok, std::vector<uint8_t>& lab) const {
  const size_t span = tokens.size() > size_t(T - 1) ? tokens.size() - size_t(T - 1) : 1;
  Cut(*this, size_t(double(span - 1) * (n > 1 ? double(i) / double(n - 1) : 0.0)), T, tok, lab);
}

AdapterCorpus LoadAdapterCorpus(const Tokenizer& tok, const std::vector<std::string>& paths) {
  AdapterCorpus c;
  c.bos = tok.bos();
  for (const std::string& path : ListTextFiles(paths)) {
    const std::string text = ReadTextDocument(path);
    const std::vector<int32_t> ids = tok.Tokenize(text, /*add_special=*/false);
    std::vector<uint8_t> labels;
    try {
      labels = BoundaryLabels(text, TokenSpans(tok, text, ids));
    } catch (const Error&) {
      ++c.n_skipped;  // counted and reported; such a document gives no labels to learn from
      continue;
    }
    if (ids.empty()) continue;
    labels.back() = 1;  // a document's end always ends a chunk
    c.tokens.push_back(tok.bos());
    c.labels.push_back(0);
    c.tokens.insert(c.tokens.end(), ids.begin(), ids.end());
    c.labels.insert(c.labels.end(), labels.begin(), labels.end());
    c.n_sentences += uint64_t(std::count(labels.begin(), labels.end(), uint8_t(1)));
    ++c.n_documents;
  }
  if (c.tokens.empty()) Fail("no usable documents in the adapter training data");
  return c;
}

}  // namespace chunkllm
