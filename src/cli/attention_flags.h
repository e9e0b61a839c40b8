// The attention flags shared by run, bench, eval (one definition, the same help text). The
// flags with names for values are parsed into AttentionOptions' enums as they are read
// (chunk/attention_options.h: an unknown value is refused there, naming the flag); the numbers
// and combinations are checked once, when the command makes its PolicySpec.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "chunk/attention_options.h"

namespace chunkllm::cli {

// methods: null for one method (--attn NAME into o.method); else --attn takes a comma-separated
// list into *methods, described by methods_help. prefills likewise for --prefill (bench, eval).
inline void AddAttentionFlags(CLI::App* c, AttentionOptions& o, std::vector<AttentionMethod>* methods = nullptr,
                              const std::string& methods_help = "", std::vector<PrefillMode>* prefills = nullptr) {
  c->add_option("--adapters", o.adapters, "ChunkLLM adapters GGUF (from `chunkllm train`)")->check(CLI::ExistingFile);
  c->add_option("--topk", o.topk, "chunks selected at each boundary")->capture_default_str();
  c->add_option("--budget-tokens", o.budget_tokens,
                 "select chunks in rank order until they hold this many tokens, instead of --topk chunks (0: off)")
      ->capture_default_str();
  c->add_option_function<std::string>(
       "--select-query", [&o](const std::string& s) { o.select_query = ParseSelectQuery(s); },
       "a selection scores with the latest token's query (last) or the mean over the tokens since the "
       "latest chunk's start (recent)")
      ->default_str(Name(o.select_query));
  c->add_option_function<std::string>(
       "--first-selection", [&o](const std::string& s) { o.first_selection = ParseFirstSelection(s); },
       "the first selection after a prompt: by the first decode step, which reads the whole cache "
       "(dense-step), or by the prompt's last token (prompt, the paper's)")
      ->default_str(Name(o.first_selection));
  c->add_option_function<std::string>(
       "--selection", [&o](const std::string& s) { o.selection = ParseChunkSelection(s); },
       "ChunkLLM methods: each layer reads its own top chunks (per-layer), or the layers vote for one set "
       "(shared, the paper's; needed by --kv evict)")
      ->default_str("per-layer; shared with --kv evict or --layer-topk");
  c->add_option("--layer-topk", o.layer_topk,
                "with --selection shared: each layer also reads its own top chunks beside the voted set (0: the "
                "paper's shared set alone; -1: " +
                    std::to_string(AttentionOptions::kDefaultLayerTopk) + ", or 0 with --kv evict)")
      ->capture_default_str();
  c->add_option("--local", o.local, "latest chunks always kept")->capture_default_str();
  c->add_option("--local-tokens", o.local_tokens,
                "ChunkLLM methods: keep more of the latest chunks, until they hold this many tokens (0: --local "
                "chunks only)")
      ->capture_default_str();
  c->add_option("--sink", o.sink, "first tokens always kept")->capture_default_str();
  c->add_option("--window", o.window, "recent tokens kept by streaming, sepllm, fixllm")->capture_default_str();
  c->add_option_function<std::string>(
       "--kv", [&o](const std::string& s) { o.kv = ParseKvMode(s); }, "KV policy: resident or evict")
      ->default_str(Name(o.kv));
  c->add_option("--chunk-len", o.chunk_len, "tokens per chunk for chunk-fixed")->capture_default_str();
  c->add_option("--stride", o.stride, "every n-th token kept by fixllm")->capture_default_str();
  const std::string prefill_help =
      "prompt prefill of the ChunkLLM methods: dense, or sparse (each micro-batch reads the sink, the chunks the "
      "adapters select for it, a recent window and itself)";
  if (!prefills) {
    c->add_option_function<std::string>(
         "--prefill", [&o](const std::string& s) { o.prefill = ParsePrefillMode(s); }, prefill_help)
        ->default_str("sparse for chunkllm, chunk-fixed, novote, noicac; dense for the others");
  } else {
    std::string shown;
    for (PrefillMode m : *prefills) shown += (shown.empty() ? "" : ",") + std::string(Name(m));
    c->add_option_function<std::vector<std::string>>(
         "--prefill",
         [prefills](const std::vector<std::string>& v) {
           prefills->clear();
           for (const std::string& s : v) prefills->push_back(ParsePrefillMode(s));
         },
         prefill_help + "; a comma-separated list compares them (each ChunkLLM method once per mode)")
        ->delimiter(',')
        ->default_str(shown);
  }
  c->add_option("--prefill-budget", o.prefill_budget, "sparse prefill: tokens of selected chunks per layer")
      ->capture_default_str();
  c->add_option("--prefill-window", o.prefill_window, "sparse prefill: recent tokens before each micro-batch")
      ->capture_default_str();
  c->add_option("--prefill-query-groups", o.prefill_query_groups,
                "sparse prefill: a micro-batch's queries in this many groups of consecutive tokens, a chunk ranked by its "
                "best group (1: the batch's mean query; 0: every token, the max over tokens)")
      ->capture_default_str();
  c->add_option("--prefill-dense-tail", o.prefill_dense_tail,
                "sparse prefill: the prompt's last tokens (where its question is) prefilled densely")
      ->capture_default_str();
  std::string names;
  for (const auto& [name, method] : AttentionMethodNames()) names += (names.empty() ? "" : "|") + name;
  if (!methods) {
    c->add_option_function<std::string>(
         "--attn", [&o](const std::string& s) { o.method = ParseAttentionMethod(s); }, "attention: " + names)
        ->default_str(Name(o.method));
  } else {
    std::string shown;
    for (AttentionMethod m : *methods) shown += (shown.empty() ? "" : ",") + std::string(Name(m));
    c->add_option_function<std::vector<std::string>>(
         "--attn", [methods](const std::vector<std::string>& v) { *methods = ParseAttentionMethods(v); },
         methods_help + " (" + names + ")")
        ->delimiter(',')
        ->default_str(shown);
  }
}

}  // namespace chunkllm::cli
