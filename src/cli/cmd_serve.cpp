#include "cli/attention_flags.h"
#include "cli/commands.h"
#include "core/file_util.h"
#include "model/attention_kernel.h"
#include "model/kv_cache.h"
#include "serve/server.h"

namespace chunkllm::cli {

void RegisterServe(CLI::App& app) {
  auto o = std::make_shared<serve::ServeOptions>();
  auto kv = std::make_shared<std::string>("f16");
  auto kernel = std::make_shared<std::string>("chunkllm");
  auto key_file = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand("serve", "an OpenAI-compatible HTTP server (chat and text completions)");
  c->add_option("-m,--model", o->model_path, "GGUF model file")->required()->check(CLI::ExistingFile);
  c->add_option("--host", o->host, "address to listen on")->capture_default_str();
  c->add_option("--port", o->port, "port to listen on (0: a free one, printed at start-up)")->capture_default_str();
  c->add_option("-c,--ctx-size", o->session.n_ctx, "context size of each slot, in tokens")
      ->check(kPositive)
      ->capture_default_str();
  c->add_option("--parallel", o->n_slots, "slots: requests served at once, each with its own KV cache (also -np)")
      ->check(kPositive)
      ->capture_default_str();
  c->add_option("--max-queue", o->max_queue, "requests that may wait for a slot; beyond them the answer is 503")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  c->add_option("-t,--threads", o->session.n_threads, "threads")->check(kPositive)->capture_default_str();
  c->add_option("-u,--ubatch-size", o->session.n_ubatch, "prefill micro-batch size")->check(kPositive)->capture_default_str();
  c->add_option("--cache-type", *kv, "KV cache type: f16, f32 or q8_0")->capture_default_str();
  c->add_option("--attn-kernel", *kernel, "attention kernels: chunkllm (split-KV decode, tiled prefill) or ggml (libllama's arithmetic)")
      ->capture_default_str();
  auto* key = c->add_option("--api-key", o->api_key, "ask clients for this key (Authorization: Bearer KEY)");
  auto* kf = c->add_option("--api-key-file", *key_file, "read the API key from the first line of a file")
                 ->check(CLI::ExistingFile);
  key->excludes(kf);
  c->add_option("--chat-template", o->chat_template,
                "chat template name libllama knows (chatml, llama2, ...; default: the model's, else chatml)");
  c->add_option("--max-body", o->max_body_bytes,
                "largest request body in bytes (0: what a prompt of -c tokens can take, escaped)")
      ->capture_default_str();
  AddAttentionFlags(c, o->attention);
  c->callback([c, o, kv, kernel, key_file] {
    o->session.kv_type = KvTypeFromName(*kv);
    o->session.attn_kernel = AttentionKernelFromName(kernel->c_str());
    // With adapters and no --attn, ChunkLLM is the default; a request may ask for another.
    if (c->count("--attn") == 0 && !o->attention.adapters.empty()) o->attention.method = AttentionMethod::kChunkLlm;
    if (!key_file->empty()) {
      const std::string text = ReadTextDocument(*key_file, {4096, "an API key file's 4 KiB"});
      o->api_key = text.substr(0, text.find_first_of("\r\n"));
      if (o->api_key.empty()) Fail(*key_file, ": the first line (the API key) is empty");
    }
    serve::RunServe(*o);
  });
}

}  // namespace chunkllm::cli
