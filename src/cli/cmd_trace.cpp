#include "cli/attention_flags.h"
#include "cli/commands.h"
#include "eval/trace.h"

namespace chunkllm::cli {

void RegisterTrace(CLI::App& app) {
  auto o = std::make_shared<TraceOptions>();
  o->attention.method = AttentionMethod::kChunkLlm;
  CLI::App* c = app.add_subcommand(
      "trace", "follow one task record step by step: where a sparse method's reads lose dense attention's mass");
  c->add_option("-m,--model", o->model_path, "GGUF model file")->required()->check(CLI::ExistingFile);
  c->add_option("--tasks", o->tasks_path, "task records JSONL (e.g. from `chunkllm eval --dump`)")
      ->required()->check(CLI::ExistingFile);
  c->add_option("--sample", o->sample, "index of the record in the file (from 0)")->capture_default_str();
  c->add_option("-n,--n-predict", o->n_predict, "decode steps (0: the record's max_new_tokens)")->capture_default_str();
  c->add_option("-t,--threads", o->n_threads, "threads")->check(kPositive)->capture_default_str();
  c->add_option("-o,--output", o->json_path, "also write every step and layer to this JSON file");
  AddAttentionFlags(c, o->attention);
  c->callback([o] { PrintTrace(RunTrace(*o), stdout); });
}

}  // namespace chunkllm::cli
