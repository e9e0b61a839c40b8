// The attention flags shared by run, bench and eval (one definition, the same help text).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "chunk/policy_factory.h"

namespace chunkllm::cli {

inline void AddAttentionFlags(CLI::App* c, AttentionOptions& o, bool many_methods = false) {
  c->add_option("--adapters", o.adapters, "ChunkLLM adapters GGUF (from `chunkllm train`)")->check(CLI::ExistingFile);
  c->add_option("--topk", o.topk, "chunks selected at each boundary")->capture_default_str();
  c->add_option("--budget-tokens", o.budget_tokens,
                 "select chunks in rank order until they hold this many tokens, instead of --topk chunks (0: off)")
      ->capture_default_str();
  c->add_option("--select-query", o.select_query,
                "a selection scores with the latest token's query (last) or the mean over the tokens since the "
                "latest chunk's start (recent)")
      ->capture_default_str();
  c->add_option("--first-selection", o.first_selection,
                "the first selection after a prompt: by the first decode step, which reads the whole cache "
                "(dense-step), or by the prompt's last token (prompt, the paper's)")
      ->capture_default_str();
  c->add_option("--layer-topk", o.layer_topk,
                "each layer also reads its own top chunks beside the voted set (0: the paper's shared set; "
                "novote has its own already; -1: " +
                    std::to_string(selection_defaults::kLayerTopk) + ", or 0 with --kv evict)")
      ->capture_default_str();
  c->add_option("--local", o.local, "latest chunks always kept")->capture_default_str();
  c->add_option("--local-tokens", o.local_tokens,
                "ChunkLLM methods: keep more of the latest chunks, until they hold this many tokens (0: --local "
                "chunks only)")
      ->capture_default_str();
  c->add_option("--sink", o.sink, "first tokens always kept")->capture_default_str();
  c->add_option("--window", o.window, "recent tokens kept by streaming, sepllm, fixllm")->capture_default_str();
  c->add_option("--kv", o.kv, "KV policy: resident or evict")->capture_default_str();
  c->add_option("--chunk-len", o.chunk_len, "tokens per chunk for chunk-fixed")->capture_default_str();
  c->add_option("--stride", o.stride, "every n-th token kept by fixllm")->capture_default_str();
  if (!many_methods) {
    c->add_option("--attn", o.attn,
                  "attention: dense|chunkllm|streaming|sepllm|fixllm|chunk-fixed|novote|noicac|oracle")
        ->capture_default_str();
  }
}

}  // namespace chunkllm::cli
