#include "eval/evaluate.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_util.h"
#include "core/progress.h"
#include "core/timer.h"
#include "chunk/policy_spec.h"
#include "eval/answer_agreement.h"
#include "eval/eval_report.h"
#include "tasks/scoring.h"
#include "tasks/task_generators.h"
#include "model/model.h"
#include "model/session.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

std::vector<TaskRecord> GenerateTasks(const EvalOptions& o, const Tokenizer& tok) {
  const Haystack hay = Haystack::FromDirectory(o.haystack_dir);
  const TokenCounter count = [&](const std::string& s) { return int(tok.Tokenize(s, false).size()); };
  std::vector<TaskRecord> out;
  for (const std::string& t : o.tasks)
    for (int L : o.lengths)
      for (double d : o.depths)
        for (int s = 0; s < o.samples; ++s) {
          TaskSpec spec{t, L, d, o.seed * 1000003ull + uint64_t(s) * 7919ull + uint64_t(L) * 31ull + uint64_t(d * 1000)};
          out.push_back(GenerateTask(spec, hay, count));
        }
  return out;
}

struct SampleRun {
  SampleResult result;
  GreedyAnswer answer;
};

// One sample on one method, in a fresh session (an evicting policy cannot go back): prefill
// the prompt, decode greedily, score. Keeps the logits of the first `keep` steps (for the
// agreement with dense, eval/answer_agreement.h): a copy a step inside the timed decode, the
// comparison's arithmetic after it.
SampleRun RunSample(const Model& model, const SessionParams& sp, const PolicySpec& spec, const Tokenizer& tok,
                    const TaskRecord& r, const std::vector<int32_t>& prompt, int keep) {
  std::unique_ptr<AttentionPolicy> owned = spec.NewPolicy();
  AttentionPolicy& policy = *owned;
  Session session(model, sp, owned.get());
  if (int(prompt.size()) + r.max_new_tokens > session.n_ctx()) {
    Fail("a ", r.task, " sample needs ", prompt.size() + size_t(r.max_new_tokens), " positions; the context holds ",
         session.n_ctx());
  }
  session.Prefill(prompt);
  const double t0 = NowSeconds();
  SampleRun run;
  run.answer = DecodeGreedy(session, tok, r.max_new_tokens, keep, StopAt::kNewline);
  const double dt = NowSeconds() - t0;
  SampleResult& s = run.result;
  s.method = spec.name(), s.task = r.task, s.length = r.length, s.depth = r.depth, s.seed = r.seed;
  s.prediction = tok.Detokenize(run.answer.tokens);
  s.answers = r.answers;
  s.score = StringMatchAll(s.prediction, r.answers);
  s.prompt_tokens = int(prompt.size());
  const AttentionStats& st = policy.stats();
  s.decode_tokens_per_s = st.decode_steps > 0 ? double(st.decode_steps) / dt : 0.0;
  s.attended_fraction = st.attended_fraction(), s.resident_fraction = st.resident_fraction();
  s.selections_per_token = st.selections_per_token();
  s.prefill_attended_fraction = st.prefill_attended_fraction();
  return run;
}

}  // namespace

void RunEval(const EvalOptions& o) {
  if (o.model_path.empty()) Fail("eval needs -m MODEL (its tokenizer builds and reads the tasks)");
  auto model = Model::Load(o.model_path);
  auto tok = Tokenizer::Load(o.model_path);
  for (double d : o.depths) if (d < 0 || d > 1) Fail("--depths must be in [0, 1] (fractions), got ", d);
  // Lengths are checked against the model's context before any haystack or window is built
  // for them (a 100M-token haystack took minutes and gigabytes).
  const int n_ctx_train = model->config().n_ctx_train;
  auto check_lengths = [&](const std::string& flag, const std::vector<int>& lengths) {
    for (int L : lengths) {
      if (L < 1 || L > n_ctx_train) {
        Fail(flag, " ", L, " is outside [1, ", n_ctx_train, "]: ", o.model_path, " has a context of ", n_ctx_train,
             " tokens (", model->config().arch_name, ".context_length)");
      }
    }
  };
  if (o.tasks_path.empty()) check_lengths("--lengths", o.lengths);
  const std::vector<TaskRecord> tasks = o.tasks_path.empty() ? GenerateTasks(o, *tok) : ReadTaskRecords(o.tasks_path);
  if (!o.dump_path.empty()) {
    std::string text;
    for (const TaskRecord& r : tasks) text += ToJson(r).dump() + "\n";
    WriteTextFile(o.dump_path, text);
    std::fprintf(stderr, "eval: wrote %zu tasks to %s\n", tasks.size(), o.dump_path.c_str());
    return;
  }
  if (o.out_dir.empty()) Fail("eval needs -o DIR for its report (or --dump FILE to only write the tasks)");
  if (o.methods.empty()) Fail("--attn needs at least one method");
  if (o.fidelity.documents > 0) {
    if (o.fidelity.lengths.empty()) check_lengths("--fidelity-lengths (default: --lengths)", o.lengths);
    else check_lengths("--fidelity-lengths", o.fidelity.lengths);
  }
  // The report replaces -o DIR only at the end: a failed run leaves no half report, and old
  // files never mix with new ones (a folder holding anything else is refused now).
  StagedFolder report(o.out_dir, IsEvalReportFile);
  const std::string& out = report.path();

  int n_ctx = 16;
  const TextLimit limit = tok->PromptLimit(n_ctx_train, "the model's context of");
  for (size_t i = 0; i < tasks.size(); ++i) {
    const TaskRecord& r = tasks[i];
    const std::string prompt = r.context + r.question + r.answer_prefix;
    const int64_t n = prompt.size() > limit.max_bytes ? INT64_MAX : int64_t(tok->Tokenize(prompt, true).size());
    if (n > n_ctx_train) {
      Fail(o.tasks_path.empty() ? std::string("generated tasks") : o.tasks_path, ": record ", i + 1, " (", r.task,
           ") has a prompt of ", n == INT64_MAX ? Str("more than ", limit.max_bytes, " bytes") : Str(n, " tokens"),
           ", beyond ", o.model_path, "'s context of ", n_ctx_train, " tokens");
    }
    n_ctx = std::max(n_ctx, int(n) + r.max_new_tokens);
  }
  // Every flag checked and the adapters loaded once, before the long run.
  const std::vector<PolicySpec> methods = MakePolicySpecs(*model, o.attention, o.methods, o.prefills);
  std::vector<std::string> method_names;
  for (const PolicySpec& s : methods) method_names.push_back(s.name());
  // The adapters' held-out metrics: inputs read (and checked) now, measured after the tasks.
  const std::string adapter_text = o.fidelity.text_dir.empty() ? o.haystack_dir : o.fidelity.text_dir;
  if (o.adapter_windows < 0) Fail("--adapter-windows must be >= 0, got ", o.adapter_windows);
  std::function<nlohmann::json()> measure_adapters;
  if (!o.attention.adapters.empty() && o.adapter_windows > 0) {
    if (o.adapter_metrics) {
      AdapterMetricsRequest r{o.attention.adapters, adapter_text, o.adapter_windows, o.adapter_seq,
                              o.attention.topk, o.attention.local, o.attention.sink, o.n_threads};
      measure_adapters = o.adapter_metrics(*model, *tok, r);
    } else {
      std::fprintf(stderr, "eval: adapter metrics skipped: this chunkllm was built without training (libtorch)\n");
    }
  }
  std::vector<std::string> prefill_names;
  for (PrefillMode m : o.prefills) prefill_names.push_back(Name(m));
  nlohmann::json config = {{"model", o.model_path}, {"tasks_file", o.tasks_path}, {"tasks", o.tasks},
                           {"lengths", o.lengths}, {"depths", o.depths}, {"samples", o.samples}, {"seed", o.seed},
                           {"haystack", o.haystack_dir}, {"methods", method_names}, {"threads", o.n_threads},
                           {"n_ctx", n_ctx}, {"n_samples", tasks.size()},
                           {"attention", {{"adapters", o.attention.adapters}, {"topk", o.attention.topk},
                                          {"budget_tokens", o.attention.budget_tokens},
                                          {"select_query", Name(o.attention.select_query)},
                                          {"first_selection", Name(o.attention.first_selection)},
                                          {"selection", Name(o.attention.selection_mode())},
                                          {"layer_topk", o.attention.layer_topk_or_default()},
                                          {"local", o.attention.local}, {"local_tokens", o.attention.local_tokens},
                                          {"sink", o.attention.sink},
                                          {"window", o.attention.window}, {"kv", Name(o.attention.kv)},
                                          {"chunk_len", o.attention.chunk_len}, {"stride", o.attention.stride},
                                          {"prefill", prefill_names},  // of the methods that can prefill sparsely
                                          {"prefill_budget", o.attention.prefill_budget},
                                          {"prefill_window", o.attention.prefill_window},
                                          {"prefill_query_groups", o.attention.prefill_query_groups},
                                          {"prefill_dense_tail", o.attention.prefill_dense_tail}}},
                           {"adapter_metrics", {{"windows", measure_adapters ? o.adapter_windows : 0},
                                                {"seq", o.adapter_seq}, {"text", adapter_text}}},
                           {"fidelity", {{"documents", o.fidelity.documents}, {"decode_tokens", o.fidelity.decode_tokens},
                                         {"lengths", o.fidelity.lengths.empty() ? o.lengths : o.fidelity.lengths}}}};
  WriteTextFile(out + "/config.json", config.dump(2) + "\n");

  SessionParams sp;
  sp.n_ctx = n_ctx;
  sp.n_threads = o.n_threads;
  // Sample by sample, dense attention first (when it is one of the methods): every other method's
  // answer is compared with dense's on the same prompt (eval/answer_agreement.h). The rows stay
  // grouped by method, each method's in the tasks' order.
  const auto dense_it = std::find_if(methods.begin(), methods.end(),
                                     [](const PolicySpec& s) { return s.method() == AttentionMethod::kDense; });
  std::vector<size_t> order;
  if (dense_it != methods.end()) order.push_back(size_t(dense_it - methods.begin()));
  for (size_t m = 0; m < methods.size(); ++m)
    if (order.empty() || m != order[0]) order.push_back(m);
  const bool agree = dense_it != methods.end() && methods.size() > 1;
  std::vector<std::vector<SampleResult>> by_method(methods.size());
  const int64_t total = int64_t(tasks.size() * methods.size());
  ProgressBar bar(total, "eval", o.show_progress);
  const double start = NowSeconds();
  int64_t done = 0;
  for (const TaskRecord& r : tasks) {
    const std::vector<int32_t> prompt = tok->Tokenize(r.context + r.question + r.answer_prefix, /*add_special=*/true);
    GreedyAnswer dense;
    for (size_t m : order) {
      SampleRun run = RunSample(*model, sp, methods[m], *tok, r, prompt, agree ? kAgreementSteps : 0);
      if (agree && m == order[0]) {
        dense = std::move(run.answer);
      } else if (agree && methods[m].method() != AttentionMethod::kDense) {
        run.result.agreement = AgreeWithDense(*model, sp, methods[m], prompt, dense, run.answer);
      }
      by_method[m].push_back(std::move(run.result));
      ++done;
      bar.Update(done, Str(method_names[m], " ", r.task, " ", r.length));
      if (!bar.active() && (done % 10 == 0 || done == total)) {
        const double el = NowSeconds() - start;
        std::fprintf(stderr, "eval: %lld/%lld samples, %s elapsed, ETA %s\n", (long long)done, (long long)total,
                     FormatDuration(el).c_str(), FormatDuration(el / double(done) * double(total - done)).c_str());
      }
    }
  }
  std::vector<SampleResult> results;
  std::string rows;
  for (const std::vector<SampleResult>& rs : by_method)
    for (const SampleResult& r : rs) {
      results.push_back(r);
      rows += ToJson(r).dump() + "\n";
    }
  bar.Finish();
  WriteTextFile(out + "/results.jsonl", rows);

  std::vector<FidelityResult> fidelity;
  if (o.fidelity.documents > 0) {
    FidelityOptions fo = o.fidelity;
    if (fo.lengths.empty()) fo.lengths = o.lengths;
    if (fo.text_dir.empty()) fo.text_dir = o.haystack_dir;
    ProgressBar fbar(int64_t(fo.lengths.size()) * fo.documents * int64_t(methods.size()), "fidelity", o.show_progress);
    const double f0 = NowSeconds();
    fidelity = RunFidelity(*model, *tok, sp, methods, fo, [&](int done_f, int total_f) {
      fbar.Update(done_f);
      if (!fbar.active()) {
        const double el = NowSeconds() - f0;
        std::fprintf(stderr, "eval: fidelity %d/%d, %s elapsed, ETA %s\n", done_f, total_f, FormatDuration(el).c_str(),
                     FormatDuration(el / done_f * (total_f - done_f)).c_str());
      }
    });
    fbar.Finish();
    std::string frows;
    for (const FidelityResult& r : fidelity) frows += ToJson(r).dump() + "\n";
    WriteTextFile(out + "/fidelity.jsonl", frows);
  }
  nlohmann::json adapter_metrics;
  if (measure_adapters) {
    std::fprintf(stderr, "eval: adapter metrics on %d windows of %d tokens of %s\n", o.adapter_windows, o.adapter_seq,
                 adapter_text.c_str());
    adapter_metrics = measure_adapters();
    adapter_metrics["topk"] = o.attention.topk, adapter_metrics["windows"] = o.adapter_windows;
    adapter_metrics["seq"] = o.adapter_seq, adapter_metrics["text"] = adapter_text;
  }
  const nlohmann::json summary = WriteEvalReport(out, results, method_names, fidelity, adapter_metrics);
  const std::string summary_md = ReadTextFile(out + "/summary.md");
  report.Commit();
  std::fputs(summary_md.c_str(), stdout);
}

}  // namespace chunkllm
