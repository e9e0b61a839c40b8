#include "pretrain/pretrain_data.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "core/error.h"
#include "core/file_util.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

// Random copy pieces are ids past the control and byte tokens (SentencePiece puts those first).
constexpr int kFirstPiece = 259;

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

void ParseSyntheticTasks(const std::string& spec, PretrainDataOptions& o) {
  o.synthetic_tasks.clear();
  o.synthetic_task_weights.clear();
  const std::vector<std::string>& known = TaskNames();
  size_t begin = 0;
  while (begin <= spec.size()) {
    const size_t end = std::min(spec.find(',', begin), spec.size());
    const std::string item = spec.substr(begin, end - begin);
    const size_t colon = item.find(':');
    const std::string name = item.substr(0, colon);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      Fail("--synthetic-tasks: unknown task '", name, "' in '", spec, "'");
    }
    int weight = 1;
    if (colon != std::string::npos) {
      const std::string w = item.substr(colon + 1);
      if (w.empty() || w.size() > 6 || !std::all_of(w.begin(), w.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
          std::stoi(w) < 1) {
        Fail("--synthetic-tasks: the weight of '", name, "' must be a positive integer, got '", w, "'");
      }
      weight = std::stoi(w);
    }
    o.synthetic_tasks.push_back(name);
    o.synthetic_task_weights.push_back(weight);
    begin = end + 1;
  }
}

PretrainData::PretrainData(const Tokenizer& tok, const PretrainDataOptions& o) : tok_(tok), opt_(o) {
  if (o.synthetic_share < 0.0 || o.synthetic_share > 1.0) Fail("--synthetic must be in [0, 1], got ", o.synthetic_share);
  RefuseHeldOutText(o.train_paths, "train on");
  const auto train_files = ListTextFiles(o.train_paths);
  std::vector<std::string> texts;
  train_ = TokenizeDocuments(tok, train_files, &texts);
  n_train_docs_ = train_files.size();
  if (!o.val_paths.empty()) {
    std::vector<std::string> val_texts;
    val_ = TokenizeDocuments(tok, ListTextFiles(o.val_paths), &val_texts);
    val_haystack_ = Haystack::FromTexts(val_texts);
  }
  for (const std::string& t : o.synthetic_tasks) {
    // The out-of-template wordings are a test set: no training mix may see them.
    if (t.rfind("oot_", 0) == 0) Fail("synthetic task '", t, "' is held out for evaluation and cannot be trained on");
  }
  if (o.synthetic_share > 0.0 && o.synthetic_tasks.empty()) Fail("--synthetic-tasks lists no task");
  if (!o.synthetic_task_weights.empty() && o.synthetic_task_weights.size() != o.synthetic_tasks.size()) {
    Fail("--synthetic-tasks: ", o.synthetic_task_weights.size(), " weights for ", o.synthetic_tasks.size(), " tasks");
  }
  for (int w : o.synthetic_task_weights) {
    if (w < 1) Fail("--synthetic-tasks: a weight must be a positive integer, got ", w);
  }
  if (!(o.answer_weight >= 0.0)) Fail("--answer-weight must be >= 0, got ", o.answer_weight);
  if (o.copy_share < 0.0 || o.copy_share > 1.0) Fail("--copy-share must be in [0, 1], got ", o.copy_share);
  if (o.copy_items != "words" && o.copy_items != "tokens") Fail("--copy-items must be words or tokens, got '", o.copy_items, "'");
  if (o.copy_vocab < 0 || o.copy_vocab > tok.n_vocab() - kFirstPiece) {
    Fail("--copy-vocab must be in [0, ", tok.n_vocab() - kFirstPiece, "] for this vocabulary, got ", o.copy_vocab);
  }
  if (o.synthetic_share > 0.0) haystack_ = Haystack::FromTexts(texts);
  if (o.synthetic_share > 0.0 && o.copy_share > 0.0) {
    std::set<std::string> seen;
    for (const std::string& sentence : haystack_.sentences()) {
      std::string w;
      for (char c : sentence + " ") {
        if (std::isalpha(static_cast<unsigned char>(c))) {
          w += c;
        } else {
          if (w.size() >= 3 && seen.insert(w).second) words_.push_back(w);
          w.clear();
        }
      }
    }
    if (words_.size() < 16) Fail("the training text has too few distinct words for copy documents");
  }
}

size_t PretrainData::DrawTask(uint64_t r) const {
  const std::vector<int>& w = opt_.synthetic_task_weights;
  if (w.empty()) return r % opt_.synthetic_tasks.size();
  uint64_t x = r % uint64_t(std::accumulate(w.begin(), w.end(), int64_t(0)));
  size_t i = 0;
  for (; x >= uint64_t(w[i]); ++i) x -= uint64_t(w[i]);
  return i;
}

std::vector<int32_t> PretrainData::ProseWindow(uint64_t offset, int n) const {
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out[size_t(i)] = train_[(offset + uint64_t(i)) % train_.size()];
  return out;
}

std::vector<int32_t> PretrainData::SyntheticDocument(uint64_t seed, int max_tokens, size_t* answer_begin) const {
  std::mt19937_64 rng(seed);
  TaskSpec spec;
  spec.task = opt_.synthetic_tasks[DrawTask(rng())];
  spec.depth = std::pow(std::uniform_real_distribution<double>(0.0, 1.0)(rng), opt_.synthetic_depth_power);
  spec.seed = rng();
  auto count = [&](const std::string& s) { return int(tok_.Tokenize(s, false).size()); };
  // Leave room for the question and the answer; if the document still comes out too long,
  // retry shorter, so that no needle or answer is ever cut.
  spec.length = std::max(64, max_tokens - 96 - int(rng() % uint64_t(std::max(1, max_tokens / 4))));
  for (int attempt = 0; attempt < 4; ++attempt) {
    const TaskRecord r = GenerateTask(spec, haystack_, count);
    std::string answer;
    for (size_t i = 0; i < r.answers.size(); ++i) answer += (i ? ", " : " ") + r.answers[i];
    const std::string prompt = r.context + r.question + r.answer_prefix;
    std::vector<int32_t> ids = tok_.Tokenize(prompt + answer + ".", true);
    ids.push_back(tok_.eos());
    if (int(ids.size()) <= max_tokens) {
      // The answer starts with a space, so the prompt's pieces are a prefix of the document's.
      *answer_begin = std::min(tok_.Tokenize(prompt, true).size(), ids.size() - 1);
      return ids;
    }
    if (spec.length <= 64) break;
    spec.length = std::max(64, spec.length - std::max(32, (int(ids.size()) - max_tokens) * 2));
  }
  return {};
}

std::vector<int32_t> PretrainData::CopyDocument(uint64_t seed, int max_tokens, const std::string& items,
                                                size_t* repeat_begin) const {
  if (items == "words" && words_.empty()) Fail("copy documents of words need training text and --copy-share > 0");
  std::mt19937_64 rng(seed);
  // The list takes up to half the room left after the two headers (~12 tokens).
  const int list_tokens = 4 + int(rng() % uint64_t(std::max(1, (max_tokens - 16) / 2 - 4)));
  // Items are tokenized one by one: the two copies are the same token sequence, which is all
  // the task needs (it need not be how the joined text would tokenize).
  std::vector<int32_t> list;
  const int pieces = opt_.copy_vocab > 0 ? opt_.copy_vocab : tok_.n_vocab() - kFirstPiece;
  while (items == "tokens" && int(list.size()) < list_tokens) {
    list.push_back(kFirstPiece + int32_t(rng() % uint64_t(pieces)));
  }
  while (int(list.size()) < list_tokens) {
    const std::string item = rng() % 3 == 0 ? std::to_string(rng() % 100000) : words_[rng() % words_.size()];
    const std::vector<int32_t> ids = tok_.Tokenize(list.empty() ? item : ", " + item, false);
    list.insert(list.end(), ids.begin(), ids.end());
  }
  list.resize(size_t(list_tokens));  // (may cut the last item's tokens: still a list to copy)
  std::vector<int32_t> ids = tok_.Tokenize("Copy this list:", true);
  ids.insert(ids.end(), list.begin(), list.end());
  const std::vector<int32_t> again = tok_.Tokenize(".\nThe list again:", false);
  ids.insert(ids.end(), again.begin(), again.end());
  if (repeat_begin) *repeat_begin = ids.size();
  ids.insert(ids.end(), list.begin(), list.end());
  ids.push_back(tok_.eos());
  if (int(ids.size()) > max_tokens) return {};  // rooms under ~24 tokens
  return ids;
}

std::vector<int32_t> PretrainData::Synthetic(uint64_t seed, int T, std::vector<uint8_t>* answer_mask) const {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> ids;
  const std::vector<int>& mins = opt_.synthetic_min_lengths;
  const int drawn = mins.size() > 1 ? mins[size_t(rng() % mins.size())] : mins.empty() ? 0 : mins[0];
  const int min_len = drawn > 0 ? std::min(drawn, T + 1) : T + 1;
  while (T + 1 - int(ids.size()) >= min_len) {
    const int room = T + 1 - int(ids.size());
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const int len = int(std::exp(std::log(double(min_len)) + u * (std::log(double(room)) - std::log(double(min_len)))));
    const bool copy = std::uniform_real_distribution<double>(0.0, 1.0)(rng) < opt_.copy_share;
    const int budget = std::clamp(len, min_len, room);
    size_t answer_begin = 0;
    auto draw = [&](int max_tokens) {
      return copy ? CopyDocument(rng(), max_tokens, opt_.copy_items) : SyntheticDocument(rng(), max_tokens, &answer_begin);
    };
    std::vector<int32_t> doc = draw(budget);
    // A drawn length can be below the task's shortest document (with its question and answer,
    // ~100-190 tokens), which is no reason to end the row: that kind is drawn again at the whole
    // room left, and the row ends only if that does not fit either. (Rows where every document
    // fits its draw are unchanged.)
    if (doc.empty() && budget < room) doc = draw(room);
    if (doc.empty()) break;
    if (answer_mask) {
      answer_mask->resize(ids.size() + doc.size(), 0);
      // The answer and its full stop: [answer_begin, EOS).
      if (!copy) std::fill(answer_mask->end() - long(doc.size() - answer_begin), answer_mask->end() - 1, 1);
    }
    ids.insert(ids.end(), doc.begin(), doc.end());
  }
  // (If not even one document fits the whole row, which only happens for rows under ~100-190
  // tokens, the row is prose.)
  const std::vector<int32_t> pad = ProseWindow(rng() % train_.size(), T + 1 - int(ids.size()));
  ids.insert(ids.end(), pad.begin(), pad.end());
  if (answer_mask) answer_mask->resize(ids.size(), 0);
  return ids;
}

std::vector<int32_t> PretrainData::Row(int64_t step, int row, int T, std::vector<uint8_t>* answer_mask) const {
  std::mt19937_64 rng = RowRng(opt_.seed, step, row, T);
  if (answer_mask) answer_mask->clear();
  const bool synthetic = std::uniform_real_distribution<double>(0.0, 1.0)(rng) < opt_.synthetic_share;
  if (synthetic) return Synthetic(rng(), T, answer_mask);
  if (answer_mask) answer_mask->assign(size_t(T + 1), 0);
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
