#include "cli/attention_flags.h"
#include "cli/commands.h"
#include "cli/report_flags.h"
#include "core/error.h"
#include "eval/bench.h"
#include "model/attention_kernel.h"
#include "model/kv_cache.h"

namespace chunkllm::cli {

void RegisterBench(CLI::App& app) {
  auto o = std::make_shared<BenchParams>();
  auto kv = std::make_shared<std::string>("f16");
  auto report_flags = std::make_shared<ReportFlags>();
  auto kernels = std::make_shared<std::vector<std::string>>(std::vector<std::string>{"chunkllm"});
  CLI::App* c = app.add_subcommand("bench", "prompt and generation speed at context depths (llama-bench style)");
  c->add_option("-m,--model", o->model_path, "GGUF model file")->required()->check(CLI::ExistingFile);
  c->add_option("-p,--n-prompt", o->n_prompt, "prompt sizes, comma-separated")->delimiter(',')->capture_default_str();
  c->add_option("-n,--n-gen", o->n_gen, "generation lengths, comma-separated")->delimiter(',')->capture_default_str();
  c->add_option("-d,--depth", o->depths, "context depths, comma-separated")->delimiter(',')->capture_default_str();
  c->add_option("-t,--threads", o->n_threads, "threads")->check(kPositive)->capture_default_str();
  c->add_option("--parallel", o->parallel,
                "sequences decoded together in one batch (as serve's busy slots), comma-separated; tg only (also -np)")
      ->delimiter(',')->capture_default_str();
  c->add_option("-r,--repetitions", o->repetitions, "timed repetitions per test")->check(kPositive)->capture_default_str();
  c->add_option("-u,--ubatch-size", o->n_ubatch, "prefill micro-batch size")->check(kPositive)->capture_default_str();
  c->add_option("--cache-type", *kv, "KV cache type: f16, f32 or q8_0")->capture_default_str();
  c->add_option("--attn-kernel", *kernels, "attention kernels to compare, comma-separated: chunkllm (split-KV decode, tiled prefill), ggml")
      ->delimiter(',')->capture_default_str();
  AddReportFlags(c, *report_flags);
  AddAttentionFlags(c, o->attention, &o->methods, "attention methods to compare, comma-separated (dense first)",
                    &o->prefills);
  c->add_option("--text", o->text_dir, "context of held-out prose from this folder's .txt files instead of random tokens")
      ->check(CLI::ExistingDirectory);
  c->add_flag("--ref", o->with_reference, "also run libllama on the same file and report ours/llama.cpp");
  c->callback([o, kv, kernels, report_flags] {
    o->kv_type = KvTypeFromName(*kv);
    o->kernels = AttentionKernelsFromNames(*kernels);
    const BenchReport report = RunBench(*o);
    EmitReport(*report_flags, [&] { return FormatBenchJson(report); }, [&] { return FormatBenchMarkdown(report); });
  });
}

}  // namespace chunkllm::cli
