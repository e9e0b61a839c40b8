#include "app/show_chunks.h"
#include "cli/commands.h"

namespace chunkllm::cli {

void RegisterChunks(CLI::App& app) {
  auto o = std::make_shared<ShowChunksOptions>();
  CLI::App* c = app.add_subcommand("chunks", "show where the Chunk Adapter ends chunks in a text, against sentence ends");
  c->add_option("-m,--model", o->model_path, "GGUF model file")->required()->check(CLI::ExistingFile);
  c->add_option("--adapters", o->adapters_path, "ChunkLLM adapters GGUF (from `chunkllm train`)")
      ->required()->check(CLI::ExistingFile);
  auto* p = c->add_option("-p,--prompt", o->text, "text");
  auto* f = c->add_option("-f,--file", o->text_file, "read the text from a file")->check(CLI::ExistingFile);
  p->excludes(f);
  c->add_option("-c,--ctx-size", o->n_ctx, "context size in tokens (the text must fit)")->check(kPositive)
      ->capture_default_str();
  c->add_option("-t,--threads", o->n_threads, "threads")->check(kPositive)->capture_default_str();
  c->add_flag("--json", o->json, "JSON output (chunks, sentence ends, precision, recall, F1)");
  c->callback([o] {
    if (o->text.empty() && o->text_file.empty()) throw CLI::ValidationError("chunks", "give -p TEXT or -f FILE");
    RunShowChunks(*o);
  });
}

}  // namespace chunkllm::cli
