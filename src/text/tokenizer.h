// Tokenizer: libllama's vocabulary (SentencePiece or BPE, read from the GGUF file) behind a
// small interface. We never re-implement tokenization; this only adapts types and errors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/file_util.h"

struct llama_model;
struct llama_vocab;

namespace chunkllm {

// One message of a conversation: role ("system", "user", "assistant") and its text.
struct ChatMessage {
  std::string role, content;
};

class Tokenizer {
 public:
  // Loads only the vocabulary of a GGUF file (model or vocab-only). Throws Error.
  static std::unique_ptr<Tokenizer> Load(const std::string& path);
  ~Tokenizer();

  // add_special: add BOS/EOS as the vocab prescribes; parse_special: treat "<s>" etc. as tokens.
  std::vector<int32_t> Tokenize(const std::string& text, bool add_special, bool parse_special = false) const;
  // The text of one token (special tokens rendered when `special`).
  std::string TokenToPiece(int32_t token, bool special = false) const;
  std::string Detokenize(const std::vector<int32_t>& tokens, bool special = false) const;

  // The longest text any one token stands for, in bytes (special tokens included): a text
  // longer than n * MaxTokenBytes() cannot fit in n tokens.
  size_t MaxTokenBytes() const;
  // The bound on a text that must fit in n_tokens, for TextFromFlags (core/file_util.h): a
  // longer text is refused before it is read whole or tokenized. `of_what` names the bound in
  // the message ("-c", "the model's context of").
  TextLimit PromptLimit(int n_tokens, const std::string& of_what = "-c") const;

  int n_vocab() const;
  int32_t bos() const;
  int32_t eos() const;
  bool IsEndOfGeneration(int32_t token) const;
  // Formats one user message with the model's chat template (add the assistant prefix).
  // Throws Error when the file has no chat template or libllama does not know it.
  std::string ApplyChatTemplate(const std::string& user_message) const;
  // Formats a conversation and adds the assistant prefix. tmpl: a template name libllama knows
  // ("chatml", "llama2", ...: llama_chat_builtin_templates) or a template's text; empty: the
  // model's. Throws Error as above.
  std::string ApplyChatTemplate(const std::vector<ChatMessage>& messages, const std::string& tmpl = "") const;
  bool has_chat_template() const;

 private:
  Tokenizer() = default;
  std::string path_;
  llama_model* model_ = nullptr;
  const llama_vocab* vocab_ = nullptr;
  mutable size_t max_token_bytes_ = 0;
};

}  // namespace chunkllm
