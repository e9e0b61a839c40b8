#include "app/generate.h"
#include "cli/attention_flags.h"
#include "cli/commands.h"
#include "model/attention_kernel.h"
#include "model/kv_cache.h"

namespace chunkllm::cli {

void RegisterRun(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  auto kv = std::make_shared<std::string>("f16");
  auto kernel = std::make_shared<std::string>("chunkllm");
  CLI::App* c = app.add_subcommand("run", "generate text from a prompt");
  c->add_option("-m,--model", o->model_path, "GGUF model file")->required()->check(CLI::ExistingFile);
  auto* p = c->add_option("-p,--prompt", o->prompt, "prompt text");
  auto* f = c->add_option("-f,--file", o->prompt_file, "read the prompt from a file")->check(CLI::ExistingFile);
  p->excludes(f);
  c->add_option("-n,--n-predict", o->n_predict, "tokens to generate (-1: until end of text)")->capture_default_str();
  c->add_option("-c,--ctx-size", o->session.n_ctx, "context size in tokens")->check(kPositive)->capture_default_str();
  c->add_option("-t,--threads", o->session.n_threads, "threads")->check(kPositive)->capture_default_str();
  c->add_option("-u,--ubatch-size", o->session.n_ubatch, "prefill micro-batch size")->check(kPositive)->capture_default_str();
  c->add_option("--cache-type", *kv, "KV cache type: f16, f32 or q8_0")->capture_default_str();
  c->add_option("--attn-kernel", *kernel, "attention kernels: chunkllm (split-KV decode, tiled prefill) or ggml (libllama's arithmetic)")
      ->capture_default_str();
  c->add_option("--temp", o->sampler.temperature, "temperature (0: greedy)")->capture_default_str();
  c->add_option("--top-k", o->sampler.top_k, "top-k (0: off)")->capture_default_str();
  c->add_option("--top-p", o->sampler.top_p, "top-p (1: off)")->capture_default_str();
  c->add_option("--seed", o->sampler.seed, "sampling seed")->capture_default_str();
  c->add_flag("--chat", o->chat, "wrap the prompt in the model's chat template");
  AddAttentionFlags(c, o->attention);
  c->callback([o, kv, kernel] {
    if (o->prompt.empty() && o->prompt_file.empty()) throw CLI::ValidationError("run", "give -p TEXT or -f FILE");
    o->session.kv_type = KvTypeFromName(*kv);
    o->session.attn_kernel = AttentionKernelFromName(kernel->c_str());
    RunGenerate(*o);
  });
}

}  // namespace chunkllm::cli
