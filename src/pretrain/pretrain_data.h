// Training data for backbone pretraining: a token stream of prose documents plus synthetic
// long-range retrieval documents (passkey, needles with distractors, key-value retrieval,
// variable tracking) mixed in at a configurable share.
//
// Every row is a pure function of (seed, step, row, length): resuming at step s sees exactly
// the data an uninterrupted run would have seen, with no data-loader state to save.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tasks/task_generators.h"

namespace chunkllm {

class Tokenizer;

struct PretrainDataOptions {
  std::vector<std::string> train_paths;  // .txt files or directories of them
  std::vector<std::string> val_paths;
  double synthetic_share = 0.25;         // share of rows that are synthetic retrieval documents
  // A synthetic row packs documents of lengths drawn log-uniformly in [min, T] until it is
  // full (0: one document per row); a drawn length too short for its document is drawn again
  // at the whole room left. Short documents give many retrieval examples per token.
  // With several values each synthetic row draws its min uniformly from them, so one run can
  // mix short-range and long-range retrieval (a single value draws nothing: rows stay as
  // they were before the list).
  std::vector<int> synthetic_min_lengths = {0};
  // Share of synthetic documents that are copy documents: a list of random words and numbers,
  // then the same list again. Every token of the repeat is predictable only by copying from
  // one list-length back, the circuit that retrieval needs, densely supervised.
  double copy_share = 0.0;
  // What the copied lists hold: "words" (words and numbers from the training text, joined by
  // ", ") or "tokens" (random vocabulary pieces, no separators: each token of the repeat is
  // found by matching the one token before it, the simplest induction circuit, while in word
  // lists the item after a comma is only found by matching the item before it).
  std::string copy_items = "words";
  // With copy_items "tokens": draw the pieces from the first N after the control and byte
  // tokens (0: from the whole vocabulary). A small N makes every copied token frequent, the
  // toy setting where induction heads are known to form quickly.
  int copy_vocab = 0;
  // Loss weight of the answer tokens of synthetic retrieval documents (prose and every other
  // token weigh 1). A retrieval document of thousands of tokens has ~5 answer tokens: at
  // weight 1 the retrieval it teaches is ~0.1% of its loss. The trainer applies the weight;
  // the data marks where the answers are.
  double answer_weight = 1.0;
  // Where the needle of a synthetic retrieval document sits: depth = u^power for u uniform in
  // [0, 1) (1: uniform, the rows of before). A power above 1 puts more needles near the start,
  // i.e. far from the question, the distances a model trained with uniform depths sees least
  // (at power 2, 32% of needles in the first tenth instead of 10%).
  double synthetic_depth_power = 1.0;
  std::vector<std::string> synthetic_tasks = {"passkey", "niah_single", "niah_multikey", "niah_multivalue",
                                              "niah_multiquery", "vt"};
  // Integer weight of each synthetic task (empty: all 1). A document draws task i with
  // probability weight[i] / sum; with all weights 1 the draw is the one of before the weights.
  std::vector<int> synthetic_task_weights;
  uint64_t seed = 1;
};

// Parses --synthetic-tasks "NAME[:WEIGHT],...": fills synthetic_tasks and synthetic_task_weights.
// Throws Error naming an unknown or held-out task or a weight that is not a positive integer.
void ParseSyntheticTasks(const std::string& spec, PretrainDataOptions& options);

class PretrainData {
 public:
  // Reads and tokenizes the documents. Throws Error naming a missing, empty or binary file.
  PretrainData(const Tokenizer& tokenizer, const PretrainDataOptions& options);

  // T + 1 tokens for row `row` of step `step` (inputs are [0, T), targets [1, T]). With
  // answer_mask, also T + 1 flags: 1 where the token is part of a synthetic document's answer
  // (the answer and its full stop, after the answer prefix).
  std::vector<int32_t> Row(int64_t step, int row, int T, std::vector<uint8_t>* answer_mask = nullptr) const;
  // n fixed validation windows of T + 1 tokens, spread evenly over the validation stream.
  std::vector<std::vector<int32_t>> ValidationRows(int T, int n) const;

  size_t train_tokens() const { return train_.size(); }
  size_t val_tokens() const { return val_.size(); }
  size_t train_documents() const { return n_train_docs_; }
  // Sentences of the validation documents (for the retrieval probe); empty without --val.
  const Haystack& validation_haystack() const { return val_haystack_; }

  // One copy document (BOS "Copy this list:" list ".\nThe list again:" list EOS) of at most
  // max_tokens tokens, empty if none fits; `items` is "words" or "tokens" (see the options).
  // *repeat_begin (if given) is the index of the repeat's first token.
  std::vector<int32_t> CopyDocument(uint64_t seed, int max_tokens, const std::string& items,
                                    size_t* repeat_begin = nullptr) const;

 private:
  std::vector<int32_t> ProseWindow(uint64_t offset, int n) const;
  // Index of the synthetic task that the random number r draws (by the weights).
  size_t DrawTask(uint64_t r) const;
  std::vector<int32_t> Synthetic(uint64_t seed, int T, std::vector<uint8_t>* answer_mask) const;
  // One retrieval document (BOS ... answer. EOS) of at most max_tokens tokens; empty if none
  // fits. *answer_begin: index of the answer's first token (its end is two before the end).
  std::vector<int32_t> SyntheticDocument(uint64_t seed, int max_tokens, size_t* answer_begin) const;

  const Tokenizer& tok_;
  PretrainDataOptions opt_;
  std::vector<int32_t> train_, val_;  // documents as BOS text EOS, concatenated
  size_t n_train_docs_ = 0;
  Haystack haystack_;                 // training sentences for the synthetic documents
  Haystack val_haystack_;
  std::vector<std::string> words_;    // distinct words of the training sentences (copy documents)
};

}  // namespace chunkllm
