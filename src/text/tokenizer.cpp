#include "text/tokenizer.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <unordered_map>

#include "core/error.h"
#include "gguf.h"
#include "llama.h"
#include "model/gguf_file.h"
#include "text/llama_log.h"

namespace chunkllm {

std::unique_ptr<Tokenizer> Tokenizer::Load(const std::string& path) {
  // Validate the container ourselves first: libllama's messages for broken files are terse.
  GgufFile file = GgufFile::Open(path);
  if (file.ArrayLength("tokenizer.ggml.tokens") == 0) {
    Fail(path, ": no tokenizer in the file (metadata key 'tokenizer.ggml.tokens' is missing)");
  }
  // libllama aborts (GGML_ASSERT) on a vocabulary that holds a token twice: refused here, with
  // its own rule for empty tokens (an empty token i is read as "[EMPTY_i]").
  {
    const int64_t id = gguf_find_key(file.gguf(), "tokenizer.ggml.tokens");
    if (gguf_get_kv_type(file.gguf(), id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(file.gguf(), id) != GGUF_TYPE_STRING) {
      Fail(path, ": metadata key 'tokenizer.ggml.tokens' should be an array of strings");
    }
    const size_t n = gguf_get_arr_n(file.gguf(), id);
    std::unordered_map<std::string, size_t> seen;
    seen.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      std::string word = gguf_get_arr_str(file.gguf(), id, i);
      if (word.empty()) word = "[EMPTY_" + std::to_string(i) + "]";
      const auto [it, fresh] = seen.emplace(std::move(word), i);
      if (!fresh) {
        Fail(path, ": metadata key 'tokenizer.ggml.tokens' holds the token '", it->first.substr(0, 40), "' twice (at ",
             it->second, " and ", i, ")");
      }
    }
    // A SentencePiece (or Unigram) text that no token covers falls back to byte tokens, which
    // libllama looks up without a check (an uncaught exception that ends the process).
    const std::string model = file.FindString("tokenizer.ggml.model").value_or("");
    if (model == "llama" || model == "t5") {
      for (int b = 0; b < 256; ++b) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "<0x%02X>", b);
        if (!seen.count(hex) && !seen.count(std::string(1, char(b)))) {
          Fail(path, ": the SentencePiece vocabulary has no token for byte 0x", std::string(hex).substr(3, 2), " ('", hex,
               "'), which libllama needs to tokenize text outside the vocabulary");
        }
      }
    }
  }
  InitLlamaBackend();
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->path_ = path;
  llama_model_params mp = llama_model_default_params();
  mp.vocab_only = true;
  t->model_ = llama_model_load_from_file(path.c_str(), mp);
  if (!t->model_) Fail(path, ": libllama could not load the vocabulary");
  t->vocab_ = llama_model_get_vocab(t->model_);
  // libllama asserts when it must add a special token the vocabulary does not have.
  const std::pair<const char*, std::pair<bool, llama_token>> adds[] = {
      {"BOS (tokenizer.ggml.add_bos_token)", {llama_vocab_get_add_bos(t->vocab_), llama_vocab_bos(t->vocab_)}},
      {"EOS (tokenizer.ggml.add_eos_token)", {llama_vocab_get_add_eos(t->vocab_), llama_vocab_eos(t->vocab_)}},
      {"SEP (tokenizer.ggml.add_sep_token)", {llama_vocab_get_add_sep(t->vocab_), llama_vocab_sep(t->vocab_)}}};
  for (const auto& [what, add] : adds) {
    if (add.first && add.second == LLAMA_TOKEN_NULL) Fail(path, ": the tokenizer adds a ", what, " token but has none");
  }
  return t;
}

Tokenizer::~Tokenizer() {
  if (model_) llama_model_free(model_);
}

std::vector<int32_t> Tokenizer::Tokenize(const std::string& text, bool add_special, bool parse_special) const {
  if (text.size() > size_t(INT_MAX / 2)) Fail("text of ", text.size(), " bytes is too long to tokenize");
  // libllama reads other invalid UTF-8 as U+FFFD, but a 4-byte sequence above U+10FFFF gets
  // through its decoder and then throws out of llama_tokenize (the process ends): refused here.
  const auto cont = [&](size_t k) { return (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80; };
  for (size_t i = 0; i + 3 < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c & 0xF8) != 0xF0 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) continue;
    const uint32_t cp = (uint32_t(c & 0x07) << 18) | (uint32_t(text[i + 1] & 0x3F) << 12) |
                        (uint32_t(text[i + 2] & 0x3F) << 6) | uint32_t(text[i + 3] & 0x3F);
    if (cp > 0x10FFFF) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "%X", cp);
      Fail("the text holds an invalid UTF-8 sequence at byte ", i, ": it encodes U+", hex,
           ", beyond Unicode's last code point U+10FFFF");
    }
  }
  std::vector<int32_t> out(text.size() + 8);
  int32_t n = llama_tokenize(vocab_, text.data(), int32_t(text.size()), out.data(), int32_t(out.size()),
                             add_special, parse_special);
  if (n < 0) {
    if (n == INT32_MIN) Fail("tokenization overflowed");
    out.resize(size_t(-n));
    n = llama_tokenize(vocab_, text.data(), int32_t(text.size()), out.data(), int32_t(out.size()),
                       add_special, parse_special);
    if (n < 0) Fail("tokenization failed");
  }
  out.resize(size_t(n));
  return out;
}

std::string Tokenizer::TokenToPiece(int32_t token, bool special) const {
  if (token < 0 || token >= n_vocab()) Fail("token id ", token, " is out of range [0, ", n_vocab(), ")");
  char buf[256];
  int32_t n = llama_token_to_piece(vocab_, token, buf, sizeof buf, 0, special);
  if (n >= 0) return std::string(buf, size_t(n));
  std::string big(size_t(-n), '\0');
  n = llama_token_to_piece(vocab_, token, big.data(), int32_t(big.size()), 0, special);
  big.resize(size_t(n < 0 ? 0 : n));
  return big;
}

std::string Tokenizer::Detokenize(const std::vector<int32_t>& tokens, bool special) const {
  for (int32_t t : tokens) {
    if (t < 0 || t >= n_vocab()) Fail("token id ", t, " is out of range [0, ", n_vocab(), ")");
  }
  std::string out(tokens.size() * 8 + 16, '\0');
  int32_t n = llama_detokenize(vocab_, tokens.data(), int32_t(tokens.size()), out.data(), int32_t(out.size()),
                               /*remove_special=*/false, special);
  if (n < 0) {
    out.resize(size_t(-n));
    n = llama_detokenize(vocab_, tokens.data(), int32_t(tokens.size()), out.data(), int32_t(out.size()), false,
                         special);
  }
  out.resize(size_t(n < 0 ? 0 : n));
  return out;
}

size_t Tokenizer::MaxTokenBytes() const {
  if (max_token_bytes_ == 0) {
    // SentencePiece writes a space as U+2581 (3 bytes), so a piece is never shorter than the
    // text it covers; byte-level BPE pieces are the text itself.
    for (int32_t t = 0; t < n_vocab(); ++t) max_token_bytes_ = std::max(max_token_bytes_, TokenToPiece(t, true).size());
    max_token_bytes_ = std::max<size_t>(max_token_bytes_, 1);
  }
  return max_token_bytes_;
}

TextLimit Tokenizer::PromptLimit(int n_tokens, const std::string& of_what) const {
  const size_t per_token = MaxTokenBytes();
  return {uint64_t(std::max(n_tokens, 1)) * per_token + 16,
          Str(of_what, " ", n_tokens, " tokens can hold (the longest token of ", path_, " is ", per_token, " bytes)")};
}

int Tokenizer::n_vocab() const { return llama_vocab_n_tokens(vocab_); }
int32_t Tokenizer::bos() const { return llama_vocab_bos(vocab_); }
int32_t Tokenizer::eos() const { return llama_vocab_eos(vocab_); }
bool Tokenizer::IsEndOfGeneration(int32_t token) const { return llama_vocab_is_eog(vocab_, token); }

std::string Tokenizer::ApplyChatTemplate(const std::string& user_message) const {
  if (!has_chat_template()) {
    Fail(path_, ": the model has no chat template (metadata 'tokenizer.chat_template'); drop --chat");
  }
  return ApplyChatTemplate({{"user", user_message}});
}

bool Tokenizer::has_chat_template() const { return llama_model_chat_template(model_, nullptr) != nullptr; }

std::string Tokenizer::ApplyChatTemplate(const std::vector<ChatMessage>& messages, const std::string& tmpl_name) const {
  const char* tmpl = tmpl_name.empty() ? llama_model_chat_template(model_, nullptr) : tmpl_name.c_str();
  if (!tmpl) Fail(path_, ": the model has no chat template (metadata 'tokenizer.chat_template')");
  std::vector<llama_chat_message> msgs;
  size_t bytes = 0;
  for (const ChatMessage& m : messages) {
    msgs.push_back({m.role.c_str(), m.content.c_str()});
    bytes += m.role.size() + m.content.size();
  }
  if (bytes > size_t(INT32_MAX / 4)) Fail("a conversation of ", bytes, " bytes is too long for the chat template");
  std::string out(bytes * 2 + 256, '\0');
  int32_t n = llama_chat_apply_template(tmpl, msgs.data(), msgs.size(), true, out.data(), int32_t(out.size()));
  if (n < 0) Fail(path_, ": libllama does not support the chat template ", tmpl_name.empty() ? "of this model" : "'" + tmpl_name + "'");
  if (size_t(n) > out.size()) {
    out.resize(size_t(n));
    n = llama_chat_apply_template(tmpl, msgs.data(), msgs.size(), true, out.data(), int32_t(out.size()));
  }
  out.resize(size_t(n));
  return out;
}

}  // namespace chunkllm
