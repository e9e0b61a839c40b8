// The tokenizer vectors shipped with llama.cpp's vocab files (models/ggml-vocab-*.gguf.inp and
// .out) must pass through our Tokenizer wrapper: same ids for every test string.
#include <gtest/gtest.h>

#include <sstream>

#include "core/error.h"
#include "core/file_util.h"
#include "test_util.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

struct VectorCase {
  std::string text;
  std::vector<int32_t> ids;
};

// .inp: strings separated by "\n__ggml_vocab_test__\n"; .out: one line of ids per string.
std::vector<VectorCase> ReadVectors(const std::string& vocab) {
  const std::string inp = ReadTextFile(vocab + ".inp");
  const std::string out = ReadTextFile(vocab + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(inp.substr(pos));
      break;
    }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<VectorCase> cases;
  std::istringstream lines(out);
  std::string line;
  for (size_t i = 0; std::getline(lines, line); ++i) {
    if (i >= texts.size()) break;
    VectorCase c{texts[i], {}};
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), texts.size()) << vocab << ": .inp and .out disagree in length";
  return cases;
}

class TokenizerVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerVectors, MatchExpectedIds) {
  const std::string vocab = test::VocabPath(GetParam());
  auto tok = Tokenizer::Load(vocab);
  const auto cases = ReadVectors(vocab);
  ASSERT_GT(cases.size(), 20u);
  int failures = 0;
  for (const auto& c : cases) {
    const auto got = tok->Tokenize(c.text, /*add_special=*/false, /*parse_special=*/false);
    if (got != c.ids) {
      ADD_FAILURE() << GetParam() << ": '" << c.text << "' tokenized differently";
      if (++failures > 5) break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, TokenizerVectors, ::testing::Values("llama-spm", "llama-bpe", "qwen2"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) if (ch == '-') ch = '_';
                           return n;
                         });

TEST(Tokenizer, RoundTripsAndSpecialTokens) {
  auto tok = Tokenizer::Load(test::VocabPath("llama-spm"));
  const std::string text = "Hello world. The pass key is 71432.";
  const auto ids = tok->Tokenize(text, /*add_special=*/true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), tok->bos());  // Llama 2 adds BOS
  const std::vector<int32_t> body(ids.begin() + 1, ids.end());
  EXPECT_EQ(tok->Detokenize(body), text);
  EXPECT_TRUE(tok->IsEndOfGeneration(2));  // </s>
  EXPECT_THROW(tok->TokenToPiece(tok->n_vocab()), Error);
}

TEST(Tokenizer, RefusesFilesWithoutVocabulary) {
  test::TempDir dir;
  const std::string path = dir.File("not-gguf.gguf");
  WriteTextFile(path, "this is not a gguf file at all");
  EXPECT_THROW(Tokenizer::Load(path), Error);
}

}  // namespace
}  // namespace chunkllm
