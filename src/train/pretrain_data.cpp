#include "train/pretrain_data.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "core/file_util.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

// BOS text EOS for every document, concatenated.
std::vector<int32_t> TokenizeDocuments(const Tokenizer& tok, const std::vector<std::string>& files,
                                       std::vector<std::string>* texts) {
  std::vector<int32_t> out;
  for (const auto& f : files) {
    std::string text = ReadTextDocument(f);
    const std::vector<int32_t> ids = tok.Tokenize(text, /*add_special=*/false);
    out.push_back(tok.bos());
    out.insert(out.end(), ids.begin(), ids.end());
    out.push_back(tok.eos());
    if (texts) texts->push_back(std::move(text));
  }
  return out;
}

std::mt19937_64 RowRng(uint64_t seed, int64_t step, int row, int T) {
  std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(step), uint32_t(uint64_t(step) >> 32),
                    uint32_t(row), uint32_t(T)};
  return std::mt19937_64(seq);
}

}  // namespace

PretrainData::PretrainData(const Tokenizer& tok, const PretrainDataOptions& o) : tok_(tok), opt_(o) {
  if (o.synthetic_share < 0.0 || o.synthetic_share > 1.0) Fail("--synthetic must be in [0, 1], got ", o.synthetic_share);
  const auto train_files = ListTextFiles(o.train_paths);
  std::vector<std::string> texts;
  train_ = TokenizeDocuments(tok, train_files, &texts);
  n_train_docs_ = train_files.size();
  if (!o.val_paths.empty()) {
    std::vector<std::string> val_texts;
    val_ = TokenizeDocuments(tok, ListTextFiles(o.val_paths), &val_texts);
    val_haystack_ = Haystack::FromTexts(val_texts);
  }
  if (o.synthetic_share > 0.0) haystack_ = Haystack::FromTexts(texts);
}

std::vector<int32_t> PretrainData::ProseWindow(uint64_t offset, int n) const {
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out[size_t(i)] = train_[(offset + uint64_t(i)) % train_.size()];
  return out;
}

std::vector<int32_t> PretrainData::SyntheticDocument(uint64_t seed, int max_tokens) const {
  std::mt19937_64 rng(seed);
  TaskSpec spec;
  spec.task = opt_.synthetic_tasks[rng() % opt_.synthetic_tasks.size()];
  spec.depth = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  spec.seed = rng();
  auto count = [&](const std::string& s) { return int(tok_.Tokenize(s, false).size()); };
  // Leave room for the question and the answer; if the document still comes out too long,
  // retry shorter, so that no needle or answer is ever cut.
  spec.length = std::max(64, max_tokens - 96 - int(rng() % uint64_t(std::max(1, max_tokens / 4))));
  for (int attempt = 0; attempt < 4; ++attempt) {
    const TaskRecord r = GenerateTask(spec, haystack_, count);
    std::string answer;
    for (size_t i = 0; i < r.answers.size(); ++i) answer += (i ? ", " : " ") + r.answers[i];
    std::vector<int32_t> ids = tok_.Tokenize(r.context + r.question + r.answer_prefix + answer + ".", true);
    ids.push_back(tok_.eos());
    if (int(ids.size()) <= max_tokens) return ids;
    if (spec.length <= 64) break;
    spec.length = std::max(64, spec.length - std::max(32, (int(ids.size()) - max_tokens) * 2));
  }
  return {};
}

std::vector<int32_t> PretrainData::Synthetic(uint64_t seed, int T) const {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> ids;
  const int min_len = opt_.synthetic_min_length > 0 ? std::min(opt_.synthetic_min_length, T + 1) : T + 1;
  while (T + 1 - int(ids.size()) >= min_len) {
    const int room = T + 1 - int(ids.size());
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const int len = int(std::exp(std::log(double(min_len)) + u * (std::log(double(room)) - std::log(double(min_len)))));
    const std::vector<int32_t> doc = SyntheticDocument(rng(), std::clamp(len, min_len, room));
    if (doc.empty()) break;
    ids.insert(ids.end(), doc.begin(), doc.end());
  }
  // (If not even one document fits, which only happens for rows under ~100 tokens, the row is prose.)
  const std::vector<int32_t> pad = ProseWindow(rng() % train_.size(), T + 1 - int(ids.size()));
  ids.insert(ids.end(), pad.begin(), pad.end());
  return ids;
}

std::vector<int32_t> PretrainData::Row(int64_t step, int row, int T) const {
  std::mt19937_64 rng = RowRng(opt_.seed, step, row, T);
  const bool synthetic = std::uniform_real_distribution<double>(0.0, 1.0)(rng) < opt_.synthetic_share;
  if (synthetic) return Synthetic(rng(), T);
  return ProseWindow(rng() % train_.size(), T + 1);
}

std::vector<std::vector<int32_t>> PretrainData::ValidationRows(int T, int n) const {
  std::vector<std::vector<int32_t>> rows;
  if (val_.size() < size_t(T + 1)) return rows;
  const size_t stride = (val_.size() - size_t(T + 1)) / size_t(std::max(1, n));
  for (int i = 0; i < n; ++i) {
    const auto begin = val_.begin() + long(size_t(i) * stride);
    rows.emplace_back(begin, begin + T + 1);
  }
  return rows;
}

}  // namespace chunkllm
