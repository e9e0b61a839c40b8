#include "cli/commands.h"
#include "cli/report_flags.h"
#include "eval/attention_bench.h"
#include "model/attention_kernel.h"
#include "model/kv_cache.h"

namespace chunkllm::cli {

void RegisterBenchAttention(CLI::App& app) {
  auto o = std::make_shared<AttentionBenchParams>();
  auto kv = std::make_shared<std::string>("f16");
  auto report_flags = std::make_shared<ReportFlags>();
  auto kernels = std::make_shared<std::vector<std::string>>(std::vector<std::string>{"chunkllm", "ggml"});
  CLI::App* c = app.add_subcommand(
      "bench-attention", "the attention op alone over a synthetic cache, against a read of its bytes (no model file)");
  c->add_option("--n-kv", o->n_kv, "cache rows every query reads")->capture_default_str();
  c->add_option("--layers", o->n_layer, "layers, each with its own cache")->capture_default_str();
  c->add_option("--heads", o->n_head, "query heads")->capture_default_str();
  c->add_option("--kv-heads", o->n_head_kv, "KV heads")->capture_default_str();
  c->add_option("--head-dim", o->head_dim, "head dim")->capture_default_str();
  c->add_option("--tokens", o->n_tokens, "queries per op (1: a decode step; 512: a prefill micro-batch, causal)")
      ->capture_default_str();
  c->add_option("--cache-type", *kv, "KV cache type: f16, f32 or q8_0")->capture_default_str();
  c->add_option("--attn-kernel", *kernels, "attention kernels, comma-separated: chunkllm, ggml")
      ->delimiter(',')->capture_default_str();
  c->add_flag("--matmul", o->matmul, "also time layer 0's arithmetic as two plain ggml products (the ceiling)");
  c->add_option("-t,--threads", o->n_threads, "threads")->check(kPositive)->capture_default_str();
  c->add_option("-r,--repetitions", o->repetitions, "timed repetitions")->check(kPositive)->capture_default_str();
  AddReportFlags(c, *report_flags);
  c->callback([o, kv, kernels, report_flags] {
    o->kv_type = KvTypeFromName(*kv);
    o->kernels = AttentionKernelsFromNames(*kernels);
    const AttentionBenchReport report = RunAttentionBench(*o);
    EmitReport(*report_flags, [&] { return FormatAttentionBenchJson(report); },
               [&] { return FormatAttentionBenchMarkdown(report); });
  });
}

}  // namespace chunkllm::cli
