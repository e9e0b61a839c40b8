// The fuzz targets: each runs one of the engine's entry points for outside input on arbitrary
// bytes, as far as a valid input would go. Bad input must end in a chunkllm::Error, which the
// target catches; anything else (a crash, a sanitizer report, another exception, a leak, a
// hang) is a finding. Each returns the refusal's message ("" when the input went through). The
// libFuzzer harnesses (fuzz_*.cpp, built with -DCHUNKLLM_FUZZ=ON and
// clang) call these, and so does the normal test suite when it replays the seed corpus and
// every input a fuzzer once crashed on (tests/fuzz/corpus/, tests/fuzz/regressions/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace chunkllm::fuzz {

// A model GGUF, loaded up to a ready model: header, metadata, tensor table, shapes against the
// architecture, data against the file, weights; then its tokenizer, and a few tokens through
// the forward pass when everything loaded.
std::string ModelGguf(const uint8_t* data, size_t size);

// An adapter GGUF against a fixed model (TinyModelPath()): loaded, checked against the model,
// made into a ChunkLLM policy, and run over a short prefill and decode.
std::string AdapterGguf(const uint8_t* data, size_t size);

// A task JSONL file (`eval --tasks`): every record parsed and checked.
std::string TaskJsonl(const uint8_t* data, size_t size);

// A prompt: byte 0 picks the vocabulary (llama-spm, llama-bpe, qwen2) and the tokenizer flags,
// the rest is the text (any bytes, invalid UTF-8 included): tokenized, each token's piece,
// detokenized, and the sentence splitter's labels mapped onto the tokens, as training does.
std::string Prompt(const uint8_t* data, size_t size);

// A request body of `chunkllm serve`: byte 0 picks the endpoint (chat or text completions), the
// rest is parsed and checked into a CompletionRequest (serve/completion_request.h). Its refusal is
// an ApiError, whose message the target returns.
std::string CompletionRequestBody(const uint8_t* data, size_t size);

// The targets by name, for the replay test and the seed maker.
struct Target {
  const char* name;
  std::string (*run)(const uint8_t*, size_t);
};
const std::vector<Target>& Targets();

// A tiny random-weight llama model (SPM vocabulary cut to its first 300 tokens, D 32, 1 layer)
// written once per process: the model the adapter target loads against. Deterministic, so seed
// adapters made for it keep matching its fingerprint.
const std::string& TinyModelPath();

// Writes the seed corpus of every target into dir/<target>/ (small files made from the real
// readers' inputs: tiny mkmodel-style models, headers of the bundled models, random adapters,
// generated task records, prompts). repo_root finds models/.
void MakeSeeds(const std::string& dir, const std::string& repo_root);

}  // namespace chunkllm::fuzz
