#include "pretrain/retrieval_probe.h"

#include <cmath>

#include "tasks/task_generators.h"
#include "text/tokenizer.h"

namespace chunkllm {

RetrievalProbe::RetrievalProbe(const Tokenizer& tok, const Haystack& haystack, int length, int n_per_task,
                               uint64_t seed, const std::vector<std::string>& tasks)
    : length_(length) {
  if (haystack.sentences().size() < 16) return;
  auto count = [&](const std::string& s) { return int(tok.Tokenize(s, false).size()); };
  for (const std::string& task : tasks) {
    for (int i = 0; i < n_per_task; ++i) {
      TaskSpec spec;
      spec.task = task;
      spec.length = std::max(64, length - 48);  // room for the question and the answer
      spec.depth = n_per_task > 1 ? double(i) / double(n_per_task - 1) : 0.5;
      spec.seed = seed + uint64_t(i);
      const TaskRecord r = GenerateTask(spec, haystack, count);
      const std::string prompt = r.context + r.question + r.answer_prefix;
      const std::vector<int32_t> head = tok.Tokenize(prompt, true);
      std::vector<int32_t> full = tok.Tokenize(prompt + " " + r.answers.front(), true);
      // The answer must tokenize after the prompt without changing it (SentencePiece does).
      if (full.size() <= head.size() || !std::equal(head.begin(), head.end(), full.begin())) continue;
      docs_.push_back({std::move(full), head.size()});
    }
  }
}

double RetrievalProbe::Accuracy(TorchLlama& model, bool bf16) const {
  if (docs_.empty()) return NAN;
  torch::NoGradGuard ng;
  int correct = 0;
  for (const Document& d : docs_) {
    const int64_t n = int64_t(d.tokens.size()) - 1;  // inputs [0, n), targets [1, n]
    const torch::Tensor x = TokenRow(d.tokens, n);
    // The position before each answer token predicts it.
    const torch::Tensor logits = WithBf16Autocast(bf16, [&] { return model->forward(x); });
    const torch::Tensor pred = logits[0].slice(0, int64_t(d.answer_begin) - 1, n).argmax(-1);
    bool ok = true;
    for (int64_t i = 0; i < pred.size(0) && ok; ++i) ok = pred[i].item<int64_t>() == d.tokens[d.answer_begin + size_t(i)];
    correct += ok;
  }
  return double(correct) / double(docs_.size());
}

}  // namespace chunkllm
