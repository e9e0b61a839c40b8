#include "cli/attention_flags.h"
#include "cli/commands.h"
#include "eval/evaluate.h"
#ifdef CHUNKLLM_WITH_TRAINING
#include <nlohmann/json.hpp>

#include "chunk/adapter_file.h"
#include "train/adapter_data.h"
#include "train/adapter_evaluation.h"
#include "train/adapter_report.h"
#endif

namespace chunkllm::cli {
namespace {

#ifdef CHUNKLLM_WITH_TRAINING
// eval's adapter metrics from the training layer: inputs checked now, measured when called.
std::function<nlohmann::json()> PrepareAdapterMetrics(const Model& model, const Tokenizer& tok,
                                                      const AdapterMetricsRequest& r) {
  AdapterEvalOptions ao;
  ao.windows = r.windows, ao.seq = r.seq, ao.topk = r.topk;
  ao.batch.local = r.local, ao.batch.sink = r.sink, ao.batch.n_threads = r.n_threads;
  CheckAdapterEvalOptions(model, ao);
  auto set = std::make_shared<const AdapterSet>(LoadMatchingAdapters(r.adapters, model));
  auto corpus = std::make_shared<const AdapterCorpus>(LoadAdapterCorpus(tok, {r.text}));
  return [&model, set, corpus, ao] { return ToJson(EvaluateAdapters(model, *set, *corpus, ao)); };
}
#endif

}  // namespace

void RegisterEval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* c = app.add_subcommand("eval", "long-context tasks for every attention method, with a report folder");
  c->add_option("-m,--model", o->model_path, "GGUF model file")->required()->check(CLI::ExistingFile);
  c->add_option("--tasks", o->tasks_path, "evaluate the records of this JSONL file")->check(CLI::ExistingFile);
  c->add_option("--dump", o->dump_path, "write the generated tasks to this JSONL file and stop");
  c->add_option("--task", o->tasks, "tasks to generate, comma-separated (passkey, niah_single, ...)")
      ->delimiter(',')->capture_default_str();
  c->add_option("--lengths", o->lengths, "context lengths in tokens, comma-separated")->delimiter(',')->capture_default_str();
  c->add_option("--depths", o->depths, "needle depths in [0, 1], comma-separated")->delimiter(',')->capture_default_str();
  c->add_option("--samples", o->samples, "samples per task, length and depth")->check(kPositive)->capture_default_str();
  c->add_option("--seed", o->seed, "task seed")->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--haystack", o->haystack_dir, "held-out prose for the haystacks")->capture_default_str();
  AddAttentionFlags(c, o->attention, &o->methods, "attention methods, comma-separated", &o->prefills);
  c->add_option("--fidelity-docs", o->fidelity.documents,
                "held-out windows per length for KL / top-1 / perplexity against vanilla (0: none)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--fidelity-lengths", o->fidelity.lengths, "window lengths for fidelity (default: --lengths)")
      ->delimiter(',');
  c->add_option("--fidelity-tokens", o->fidelity.decode_tokens, "decoded tokens scored per window (at most half)")
      ->check(kPositive)->capture_default_str();
  c->add_option("--fidelity-text", o->fidelity.text_dir, "held-out text for fidelity (default: --haystack)");
  c->add_option("--adapter-windows", o->adapter_windows,
                 "with --adapters: held-out windows for their recall and boundary F1 (0: skip)")->capture_default_str();
  c->add_option("--adapter-seq", o->adapter_seq, "tokens per adapter-metrics window")->capture_default_str();
  c->add_option("-o,--output", o->out_dir, "report folder");
  c->add_option("-t,--threads", o->n_threads, "threads")->check(kPositive)->capture_default_str();
#ifdef CHUNKLLM_WITH_TRAINING
  o->adapter_metrics = PrepareAdapterMetrics;
#endif
  c->callback([o] { RunEval(*o); });
}

}  // namespace chunkllm::cli
