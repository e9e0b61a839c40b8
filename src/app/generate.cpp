#include "app/generate.h"

#include <cstdio>

#include "app/generation.h"
#include "chunk/policy_spec.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/progress.h"
#include "core/timer.h"
#include "text/tokenizer.h"

namespace chunkllm {

void RunGenerate(const GenerateOptions& o) {
  auto model = Model::Load(o.model_path);
  auto tokenizer = Tokenizer::Load(o.model_path);
  if (tokenizer->n_vocab() != model->config().n_vocab) {
    Fail(o.model_path, ": the tokenizer has ", tokenizer->n_vocab(), " tokens but the model's vocab size is ",
         model->config().n_vocab);
  }
  // Read (and tokenize) no more text than -c tokens can hold: a prompt file of any size, even
  // /dev/zero, is refused before memory grows past that.
  std::string text = TextFromFlags(o.prompt, o.prompt_file, "the prompt", tokenizer->PromptLimit(o.session.n_ctx));
  Generation gen(*tokenizer, o.sampler, o.n_predict);  // the sampler's flags are checked before the long prefill
  if (o.chat) text = tokenizer->ApplyChatTemplate(text);
  const std::vector<int32_t> prompt = tokenizer->Tokenize(text, /*add_special=*/true, /*parse_special=*/o.chat);
  if (prompt.empty()) Fail("the prompt tokenizes to nothing");
  if (int(prompt.size()) > o.session.n_ctx) {
    Fail("the prompt has ", prompt.size(), " tokens but the context holds ", o.session.n_ctx,
         " (-c); raise -c or shorten the prompt");
  }

  std::unique_ptr<AttentionPolicy> policy = PolicySpec(*model, o.attention).NewPolicy();
  Session session(*model, o.session, policy.get());

  const double t0 = NowSeconds();
  {
    ProgressBar bar(int64_t(prompt.size()), "prefill", o.show_progress && prompt.size() > size_t(o.session.n_ubatch));
    session.Prefill(prompt, nullptr, [&](int done, int) { bar.Update(done); });
  }
  const double t_prompt = NowSeconds() - t0;

  std::fputs(o.chat ? "" : text.c_str(), stdout);
  std::fflush(stdout);
  const double t1 = NowSeconds();
  for (int32_t token; (token = gen.Next(session.last_logits())) >= 0;) {
    std::fputs(tokenizer->TokenToPiece(token).c_str(), stdout);
    std::fflush(stdout);
    if (session.n_past() >= session.n_ctx()) {
      gen.Stop(FinishReason::kContextFull);
      break;
    }
    session.Decode(token);
  }
  const int n_gen = gen.n_generated();
  const double t_gen = NowSeconds() - t1;
  std::fputs("\n", stdout);
  std::fflush(stdout);
  if (gen.finish() == FinishReason::kContextFull) {
    std::fprintf(stderr, "\n[stopped: the context of %d positions is full]\n", session.n_ctx());
  }
  std::fprintf(stderr, "\nprompt: %zu tokens in %.2f s (%.1f tok/s) | generation: %d tokens in %.2f s (%.1f tok/s)\n",
               prompt.size(), t_prompt, double(prompt.size()) / std::max(t_prompt, 1e-9), n_gen, t_gen,
               double(n_gen) / std::max(t_gen, 1e-9));
  const AttentionStats& st = policy->stats();
  std::fprintf(stderr,
               "attention: %s | %s prefill attended %.1f%% | decode attended %.1f%% | resident %.1f%% of the KV cache | "
               "%lld selections\n",
               policy->name(), Name(o.attention.prefill_mode()), 100.0 * st.prefill_attended_fraction(),
               100.0 * st.attended_fraction(), 100.0 * st.resident_fraction(), (long long)st.selections);
}

}  // namespace chunkllm
