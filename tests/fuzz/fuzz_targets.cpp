#include "fuzz_targets.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

#include "chunk/adapter_file.h"
#include "chunk/policy_spec.h"
#include "core/error.h"
#include "core/file_util.h"
#include "gguf.h"
#include "model/gguf_file.h"
#include "model/model.h"
#include "model/random_model.h"
#include "model/session.h"
#include "serve/api_error.h"
#include "serve/completion_request.h"
#include "tasks/task_generators.h"
#include "tasks/task_record.h"
#include "text/sampler.h"
#include "text/sentence_splitter.h"
#include "text/token_spans.h"
#include "text/tokenizer.h"

#ifndef CHUNKLLM_VOCAB_DIR
#error "CHUNKLLM_VOCAB_DIR must name llama.cpp's models/ folder"
#endif

namespace chunkllm::fuzz {
namespace {

// A scratch folder of this process (memory-backed when /dev/shm exists), removed at exit.
// (Never destroyed: the exit handler that removes it runs after static destructors.)
const std::string& ScratchDir() {
  static const std::string* dir = [] {
    const std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    auto* d = new std::string(base + "/chunkllm-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(ScratchDir(), ec);
    });
    return d;
  }();
  return *dir;
}

// The bytes as a file: the readers take paths, as the commands do.
std::string AsFile(const uint8_t* data, size_t size, const std::string& name) {
  const std::string path = ScratchDir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

std::string VocabPath(const std::string& name) { return std::string(CHUNKLLM_VOCAB_DIR) + "/ggml-vocab-" + name + ".gguf"; }

// The Llama-2 SPM vocabulary cut to its first n tokens (<unk>, <s>, </s>, the 256 byte tokens
// and the first merges): a complete SentencePiece vocabulary a few KB long.
void WriteTinyVocab(const std::string& path, size_t n) {
  GgufFile full = GgufFile::Open(VocabPath("llama-spm"));
  gguf_context* g = gguf_init_empty();
  gguf_set_kv(g, full.gguf());
  const int64_t tokens = gguf_find_key(g, "tokenizer.ggml.tokens");
  const int64_t scores = gguf_find_key(g, "tokenizer.ggml.scores");
  const int64_t types = gguf_find_key(g, "tokenizer.ggml.token_type");
  std::vector<std::string> strs;
  std::vector<const char*> ptrs;
  for (size_t i = 0; i < n; ++i) strs.push_back(gguf_get_arr_str(g, tokens, i));
  for (const auto& s : strs) ptrs.push_back(s.c_str());
  std::vector<float> sc(static_cast<const float*>(gguf_get_arr_data(g, scores)),
                        static_cast<const float*>(gguf_get_arr_data(g, scores)) + n);
  std::vector<int32_t> ty(static_cast<const int32_t*>(gguf_get_arr_data(g, types)),
                          static_cast<const int32_t*>(gguf_get_arr_data(g, types)) + n);
  gguf_set_arr_str(g, "tokenizer.ggml.tokens", ptrs.data(), n);
  gguf_set_arr_data(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, sc.data(), n);
  gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, ty.data(), n);
  gguf_set_val_u32(g, "llama.vocab_size", uint32_t(n));
  if (!gguf_write_to_file(g, path.c_str(), false)) std::abort();
  gguf_free(g);
}

RandomModelSpec TinySpec(Arch arch, ggml_type type) {
  static const std::string vocab = [] {
    const std::string p = ScratchDir() + "/tiny-vocab.gguf";
    WriteTinyVocab(p, 300);
    return p;
  }();
  RandomModelSpec s;
  s.arch = arch;
  s.vocab_path = vocab;
  s.n_embd = 32, s.n_layer = 1, s.n_head = 2, s.n_head_kv = 1, s.n_ff = 32, s.n_ctx_train = 256;
  s.weight_type = type;
  s.tied_output = arch != Arch::kLlama;
  return s;
}

// Runs fn; a chunkllm::Error is the expected end of bad input: its message is returned.
template <typename Fn>
std::string Guarded(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

const std::string& TinyModelPath() {
  static const std::string path = [] {
    const std::string p = ScratchDir() + "/tiny-model.gguf";
    WriteRandomModel(TinySpec(Arch::kLlama, GGML_TYPE_F32), p);
    return p;
  }();
  return path;
}

std::string ModelGguf(const uint8_t* data, size_t size) {
  const std::string path = AsFile(data, size, "model.gguf");
  return Guarded([&] {
    auto model = Model::Load(path);
    auto tok = Tokenizer::Load(path);
    if (tok->n_vocab() != model->config().n_vocab) return;  // run refuses this (app/generate.cpp)
    SessionParams sp;
    sp.n_ctx = 32, sp.n_threads = 1;
    Session session(*model, sp);
    std::vector<int32_t> prompt = tok->Tokenize("Hello world", true);
    if (prompt.empty() || prompt.size() > 24) return;
    session.Prefill(prompt);
    session.Decode(ArgMax(session.last_logits()));
  });
}

std::string AdapterGguf(const uint8_t* data, size_t size) {
  static std::unique_ptr<Model> model = Model::Load(TinyModelPath());
  const std::string path = AsFile(data, size, "adapters.gguf");
  return Guarded([&] {
    AttentionOptions o;
    o.method = AttentionMethod::kChunkLlm, o.adapters = path, o.topk = 2, o.local = 1, o.sink = 2;
    const PolicySpec spec(*model, o);
    std::unique_ptr<AttentionPolicy> policy = spec.NewPolicy();
    SessionParams sp;
    sp.n_ctx = 64, sp.n_threads = 1;
    Session session(*model, sp, policy.get());
    std::vector<int32_t> prompt;
    for (int i = 0; i < 40; ++i) prompt.push_back(int32_t(1 + (i * 37) % 299));
    session.Prefill(prompt);
    int32_t next = ArgMax(session.last_logits());
    for (int i = 0; i < 3; ++i) next = ArgMax(session.Decode(next));
  });
}

std::string TaskJsonl(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  return Guarded([&] {
    for (const TaskRecord& r : ParseTaskRecords(text, "fuzz.jsonl")) {
      (void)ToJson(r).dump();  // what --dump writes back
    }
  });
}

std::string Prompt(const uint8_t* data, size_t size) {
  static const std::vector<std::unique_ptr<Tokenizer>> toks = [] {
    std::vector<std::unique_ptr<Tokenizer>> t;
    for (const char* name : {"llama-spm", "llama-bpe", "qwen2"}) t.push_back(Tokenizer::Load(VocabPath(name)));
    return t;
  }();
  if (size == 0) return "";
  const uint8_t flags = data[0];
  const Tokenizer& tok = *toks[flags % 3];
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  return Guarded([&] {
    const bool add_special = flags & 4, parse_special = flags & 8;
    const std::vector<int32_t> ids = tok.Tokenize(text, add_special, parse_special);
    for (int32_t id : ids) (void)tok.TokenToPiece(id, flags & 16);
    (void)tok.Detokenize(ids, flags & 16);
    // Training's path: sentence labels mapped onto the tokens of the text (no special tokens).
    const std::vector<SentenceSpan> sentences = SplitSentences(text);
    const std::vector<int32_t> plain = tok.Tokenize(text, false, false);
    const std::vector<TokenSpan> spans = TokenSpans(tok, text, plain);
    (void)SentenceEndTokens(text, sentences, spans);
    (void)BoundaryLabels(text, spans);
  });
}

std::string CompletionRequestBody(const uint8_t* data, size_t size) {
  if (size == 0) return "";
  const serve::Endpoint endpoint = data[0] & 1 ? serve::Endpoint::kChat : serve::Endpoint::kCompletion;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    (void)serve::ParseCompletionRequest(body, endpoint, 1 << 20);
  } catch (const serve::ApiError& e) {
    return e.what();
  }
  return "";
}

const std::vector<Target>& Targets() {
  static const std::vector<Target> t = {{"model_gguf", ModelGguf},
                                        {"adapter_gguf", AdapterGguf},
                                        {"task_jsonl", TaskJsonl},
                                        {"prompt", Prompt},
                                        {"completion_request", CompletionRequestBody}};
  return t;
}

void MakeSeeds(const std::string& dir, const std::string& repo_root) {
  namespace fs = std::filesystem;
  auto out = [&](const std::string& target, const std::string& name, const std::string& bytes) {
    fs::create_directories(dir + "/" + target);
    std::FILE* f = std::fopen((dir + "/" + target + "/" + name).c_str(), "wb");
    if (!f) Fail(dir, ": cannot write seeds");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  };
  auto head = [](const std::string& path, size_t n) {
    const std::string all = ReadTextFile(path);
    return all.substr(0, std::min(n, all.size()));
  };

  // Models: tiny random-weight models of each architecture and a few weight types, and the
  // headers (metadata and tensor table) of the bundled backbone and a real-vocabulary model.
  const std::pair<const char*, RandomModelSpec> models[] = {
      {"tiny-llama-f32", TinySpec(Arch::kLlama, GGML_TYPE_F32)},
      {"tiny-llama-q8_0", TinySpec(Arch::kLlama, GGML_TYPE_Q8_0)},
      {"tiny-qwen2-f16", TinySpec(Arch::kQwen2, GGML_TYPE_F16)},
      {"tiny-qwen3-f16", TinySpec(Arch::kQwen3, GGML_TYPE_F16)}};
  for (const auto& [name, spec] : models) {
    const std::string p = ScratchDir() + "/seed.gguf";
    WriteRandomModel(spec, p);
    out("model_gguf", name, ReadTextFile(p));
  }
  out("model_gguf", "demo-backbone-header", head(repo_root + "/models/demo-backbone.gguf", 4096));
  out("adapter_gguf", "demo-adapters-header", head(repo_root + "/models/demo-adapters.gguf", 8192));

  // Adapters for TinyModelPath(), of several format features.
  {
    auto model = Model::Load(TinyModelPath());
    const BaseModelInfo base = BaseModelInfoOf(*model, GgufFile::Open(TinyModelPath()));
    AdapterHyperParams plain, full;
    plain.rank = 4, plain.d_adapter = 8, plain.max_chunk = 8;
    full = plain;
    full.chunk_hidden = 4, full.distance_buckets = 4, full.length_bias = true, full.query_distance = true;
    full.query_features = true, full.rope_dims = 2, full.chunk_key = "mean", full.boundary_inputs = 2;
    int i = 0;
    for (const AdapterHyperParams& hp : {plain, full}) {
      const std::string p = ScratchDir() + "/seed-adapters.gguf";
      SaveAdapters(RandomAdapters(base, hp, 7), p);
      out("adapter_gguf", "tiny-adapters-" + std::to_string(i++), ReadTextFile(p));
    }
  }

  // Task records: one generated record of each task, on a short haystack.
  {
    auto tok = Tokenizer::Load(VocabPath("llama-spm"));
    std::string prose;
    const char* subjects[] = {"The harbour", "The old bridge", "The library", "The valley", "The captain", "The mayor"};
    const char* verbs[] = {"was quiet that morning.", "held through the storm.", "opened at nine.",
                           "flooded after the rain.", "counted the crates twice.", "wrote to the city."};
    for (const char* subject : subjects)
      for (const char* verb : verbs) prose += std::string(subject) + " " + verb + " ";
    const Haystack hay = Haystack::FromTexts({prose});
    const TokenCounter count = [&](const std::string& s) { return int(tok->Tokenize(s, false).size()); };
    for (const std::string& task : TaskNames()) {
      const TaskRecord r = GenerateTask({task, 160, 0.5, 11}, hay, count);
      out("task_jsonl", task, ToJson(r).dump() + "\n");
    }
  }

  // Prompts: prose, markup and special tokens, numbers, other scripts, invalid UTF-8.
  const std::pair<const char*, std::string> prompts[] = {
      {"prose", "The harbour was quiet. Mr. Hale counted the crates twice! Where had the other two gone?\n\nNobody knew."},
      {"special", "<s>[INST] Hi </s><|im_start|>user\nhello<|im_end|><|endoftext|>"},
      {"numbers", "The pass key is 71432. Remember it: 71432. e.g. 3.14, U.S.A., 1,000,000."},
      {"unicode", "Gr\xc3\xbc\xc3\x9f" "e, \xe4\xb8\x96\xe7\x95\x8c! \xf0\x9f\x98\x80 caf\xc3\xa9 \xe2\x80\xa6 \xe2\x80\x9cquoted.\xe2\x80\x9d"},
      {"invalid-utf8", "abc \xff\xfe \xc3 \xe2\x82 \xf0\x9f\x98 \xc0\xaf end."},
      {"whitespace", "  \t\t\n\n\r\n   word   \n\n\n  . . .  "}};
  // Request bodies of both endpoints: valid ones with every field, and a few refusals.
  const std::pair<const char*, std::string> requests[] = {
      {"chat", "\x01{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
               "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}],\"max_tokens\":8,"
               "\"temperature\":0.7,\"top_p\":0.9,\"top_k\":20,\"seed\":3,\"stop\":[\"\\n\",\"END\"],"
               "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"return_progress\":true,"
               "\"chunkllm\":{\"attn\":\"chunkllm\"}}"},
      {"completion", std::string(1, '\0') + "{\"prompt\":[\"Once upon\"],\"max_tokens\":4,\"ignore_eos\":true,\"n\":1,"
                                             "\"stop\":\"x\",\"seed\":-1}"},
      {"bad-types", "\x01{\"messages\":[{\"role\":1}],\"max_tokens\":\"x\"}"},
      {"truncated", std::string(1, '\0') + "{\"prompt\":\"abc"}};
  for (const auto& [name, body] : requests) out("completion_request", name, body);

  uint8_t flag = 0;
  for (const auto& [name, text] : prompts) {
    out("prompt", name, std::string(1, char(flag)) + text);
    flag = uint8_t(flag + 5);
  }
}

}  // namespace chunkllm::fuzz
