// Pretraining data and warm starts: packed synthetic rows are deterministic, full, made of
// whole documents (each BOS ... EOS, the answer never cut), copy documents repeat their list; a GGUF imported into TorchLlama
// gives back the exported weights (to f16 rounding) and a GGUF of another shape is refused;
// the retrieval and copy probes score an untrained model at zero.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"
#include "core/file_util.h"
#include "tasks/task_generators.h"
#include "test_util.h"
#include "text/tokenizer.h"
#include "pretrain/copy_probe.h"
#include "pretrain/pretrain_data.h"
#include "pretrain/retrieval_probe.h"
#include "pretrain/torch_llama.h"

namespace chunkllm {
namespace {

const char* kProse =
    "The harbour was quiet in the early morning. Fishing boats rocked gently at their moorings. "
    "A gull called from the roof of the customs house. The baker opened his shutters and set out the bread. "
    "Two children ran along the sea wall with a kite. The tide was turning, and the boats would soon go out.\n\n";

struct DataFixture {
  test::TempDir dir;
  std::unique_ptr<Tokenizer> tok = Tokenizer::Load(test::VocabPath("llama-spm"));
  PretrainDataOptions Options(int min_len) {
    std::string text;
    for (int i = 0; i < 30; ++i) text += kProse;
    WriteTextFile(dir.File("train.txt"), text);
    PretrainDataOptions o;
    o.train_paths = {dir.File("train.txt")};
    o.synthetic_share = 1.0;
    o.synthetic_min_lengths = {min_len};
    return o;
  }
};

int Count(const std::vector<int32_t>& row, int32_t id) { return int(std::count(row.begin(), row.end(), id)); }

TEST(PretrainData, PackedSyntheticRowsHoldWholeDocuments) {
  DataFixture f;
  const PretrainData data(*f.tok, f.Options(128));
  const int T = 1024;
  int docs = 0;
  for (int row = 0; row < 6; ++row) {
    const std::vector<int32_t> r = data.Row(3, row, T);
    ASSERT_EQ(r.size(), size_t(T + 1));
    EXPECT_EQ(r, data.Row(3, row, T)) << "rows are a pure function of (seed, step, row, T)";
    ASSERT_EQ(r.front(), f.tok->bos());
    // Every document is BOS ... EOS: a cut one would leave a BOS without its EOS. The prose
    // padding after the documents is one training document's tail, with at most one EOS.
    const int bos = Count(r, f.tok->bos()), eos = Count(r, f.tok->eos());
    EXPECT_GE(eos, bos - 1);
    docs += bos;
  }
  // Documents of 128..1024 tokens, log-uniform: about three per row, never one per row.
  EXPECT_GE(docs, 12) << "rows are not packed";
}

TEST(PretrainData, UnpackedSyntheticRowsHoldOneDocument) {
  DataFixture f;
  const PretrainData data(*f.tok, f.Options(0));
  for (int row = 0; row < 4; ++row) {
    const std::vector<int32_t> r = data.Row(1, row, 512);
    ASSERT_EQ(r.size(), 513u);
    // One synthetic document; the prose padding may hold one more document boundary.
    EXPECT_LE(Count(r, f.tok->bos()), 2);
    EXPECT_GE(Count(r, f.tok->eos()), 1);
  }
}

// --synthetic-min-len 96,0: each synthetic row draws one of the two, so the run sees both
// packed rows (many short documents) and rows of one document; a single value draws nothing.
TEST(PretrainData, SeveralMinLengthsMixPackedAndSingleDocumentRows) {
  DataFixture f;
  PretrainDataOptions o = f.Options(96);
  o.synthetic_min_lengths = {96, 0};
  const PretrainData mixed(*f.tok, o);
  int packed = 0, single = 0;
  for (int row = 0; row < 24; ++row) {
    const int bos = Count(mixed.Row(2, row, 1024), f.tok->bos());
    packed += bos >= 3;
    single += bos <= 2;
  }
  EXPECT_GE(packed, 4) << "no row drew the short minimum";
  EXPECT_GE(single, 4) << "no row drew one document";
  // One value in the list is the single min length of before: no draw, the same rows.
  const PretrainData one(*f.tok, f.Options(96));
  o.synthetic_min_lengths = {96};
  const PretrainData listed(*f.tok, o);
  for (int row = 0; row < 4; ++row) EXPECT_EQ(one.Row(5, row, 1024), listed.Row(5, row, 1024));
}

// --synthetic-depth-power: needles move towards the start of their document (far from the
// question) as the power grows; power 1 gives the uniform depths of before, the same rows.
TEST(PretrainData, DepthPowerMovesNeedlesTowardsTheStart) {
  DataFixture f;
  PretrainDataOptions o = f.Options(0);
  o.synthetic_tasks = {"passkey"};
  // Mean over rows of (characters before the needle) / (characters before the question).
  auto mean_depth = [&](double power) {
    o.synthetic_depth_power = power;
    const PretrainData data(*f.tok, o);
    double sum = 0.0;
    const int rows = 24;
    for (int row = 0; row < rows; ++row) {
      const std::string text = f.tok->Detokenize(data.Row(4, row, 768));
      const size_t needle = text.find("The pass key is"), question = text.find("What is the pass key?");
      EXPECT_NE(needle, std::string::npos);
      EXPECT_NE(question, std::string::npos);
      if (needle == std::string::npos || question == std::string::npos) return -1.0;
      sum += double(needle) / double(question);
    }
    return sum / rows;
  };
  const double uniform = mean_depth(1.0), cubed = mean_depth(3.0);
  // Expected means: 1/2 for u, 1/4 for u^3 (24 rows: standard error ~0.06 and ~0.06).
  EXPECT_NEAR(uniform, 0.5, 0.15);
  EXPECT_NEAR(cubed, 0.25, 0.15);
  EXPECT_LT(cubed, uniform - 0.1);
  o.synthetic_depth_power = 1.0;
  const PretrainData power_one(*f.tok, o);
  o.synthetic_depth_power = PretrainDataOptions{}.synthetic_depth_power;
  const PretrainData by_default(*f.tok, o);
  for (int row = 0; row < 4; ++row) EXPECT_EQ(power_one.Row(6, row, 768), by_default.Row(6, row, 768));
}

// Word lists and random-piece lists alike (--copy-items); an unknown kind is refused.
class CopyItems : public ::testing::TestWithParam<std::string> {};

TEST_P(CopyItems, CopyDocumentsRepeatTheirList) {
  DataFixture f;
  PretrainDataOptions o = f.Options(64);
  o.copy_share = 1.0;
  o.copy_items = GetParam();
  const PretrainData data(*f.tok, o);
  const size_t head = f.tok->Tokenize("Copy this list:", true).size();
  const size_t again = f.tok->Tokenize(".\nThe list again:", false).size();
  int checked = 0;
  for (int row = 0; row < 4; ++row) {
    const std::vector<int32_t> r = data.Row(0, row, 512);
    ASSERT_EQ(r.size(), 513u);
    // Walk the packed documents: BOS ... EOS, each "head list again list EOS".
    size_t b = 0;
    while (b < r.size() && r[b] == f.tok->bos()) {
      const size_t e = size_t(std::find(r.begin() + long(b), r.end(), f.tok->eos()) - r.begin());
      if (e == r.size()) break;  // the prose tail
      const size_t n = (e - b - head - again) / 2;
      ASSERT_EQ(head + n + again + n, e - b) << "row " << row;
      EXPECT_TRUE(std::equal(r.begin() + long(b + head), r.begin() + long(b + head + n), r.begin() + long(b + head + n + again)));
      ++checked;
      b = e + 1;
    }
  }
  EXPECT_GE(checked, 8);
}

INSTANTIATE_TEST_SUITE_P(PretrainData, CopyItems, ::testing::Values("words", "tokens"));

TEST(PretrainData, RefusesAnUnknownCopyItemKind) {
  DataFixture f;
  PretrainDataOptions o = f.Options(64);
  o.copy_share = 1.0;
  o.copy_items = "sentences";
  try {
    PretrainData data(*f.tok, o);
    FAIL() << "accepted --copy-items sentences";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--copy-items"), std::string::npos) << e.what();
  }
}

// --copy-vocab N draws the pieces from the N after the control and byte tokens, and the
// document says where its repeat starts (what the copy probe scores).
TEST(PretrainData, CopyDocumentsDrawFromTheCopyVocabulary) {
  DataFixture f;
  PretrainDataOptions o = f.Options(64);
  o.copy_share = 1.0;
  o.copy_items = "tokens";
  o.copy_vocab = 40;
  const PretrainData data(*f.tok, o);
  const size_t head = f.tok->Tokenize("Copy this list:", true).size();
  const size_t again = f.tok->Tokenize(".\nThe list again:", false).size();
  for (uint64_t seed = 0; seed < 20; ++seed) {
    size_t repeat_begin = 0;
    const std::vector<int32_t> d = data.CopyDocument(seed, 200, "tokens", &repeat_begin);
    ASSERT_FALSE(d.empty());
    ASSERT_EQ(d.back(), f.tok->eos());
    const size_t n = d.size() - 1 - repeat_begin;  // the list's length
    ASSERT_EQ(repeat_begin, head + n + again) << "seed " << seed;
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(d[head + i], d[repeat_begin + i]);
      EXPECT_GE(d[head + i], 259);
      EXPECT_LT(d[head + i], 259 + 40);
    }
  }
  o.copy_vocab = f.tok->n_vocab();  // more pieces than the vocabulary has
  try {
    PretrainData bad(*f.tok, o);
    FAIL() << "accepted --copy-vocab " << o.copy_vocab;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--copy-vocab"), std::string::npos) << e.what();
  }
}

// The answer mask (what --answer-weight weighs) covers exactly each passkey document's answer
// and its full stop: after " The pass key is", before the EOS, one span per document.
TEST(PretrainData, AnswerMaskCoversExactlyTheAnswers) {
  DataFixture f;
  PretrainDataOptions o = f.Options(128);
  o.synthetic_tasks = {"passkey"};
  const PretrainData data(*f.tok, o);
  int spans = 0, docs = 0;
  for (int row = 0; row < 4; ++row) {
    std::vector<uint8_t> mask;
    const std::vector<int32_t> r = data.Row(2, row, 1024, &mask);
    ASSERT_EQ(mask.size(), r.size());
    EXPECT_EQ(r, data.Row(2, row, 1024)) << "the mask does not change the row";
    docs += Count(r, f.tok->bos());
    for (size_t i = 0; i < r.size(); ++i) {
      if (!mask[i] || (i > 0 && mask[i - 1])) continue;
      size_t e = i;
      while (e < r.size() && mask[e]) ++e;
      // The digits and the full stop (detokenizing a span drops its first piece's leading space).
      const std::string answer = f.tok->Detokenize({r.begin() + long(i), r.begin() + long(e)});
      const std::string before = f.tok->Detokenize({r.begin() + long(std::max<size_t>(i, 12) - 12), r.begin() + long(i)});
      EXPECT_TRUE(answer.size() >= 2 && answer.back() == '.' &&
                  std::all_of(answer.begin(), answer.end() - 1, [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
          << "'" << answer << "'";
      ASSERT_GE(before.size(), 15u);
      EXPECT_EQ(before.substr(before.size() - 15), "The pass key is") << before;
      ASSERT_LT(e, r.size());
      EXPECT_EQ(r[e], f.tok->eos());
      ++spans;
    }
  }
  // Every whole document has its span (the prose tail may start one more BOS, uncounted).
  EXPECT_GE(spans, 8);
  EXPECT_GE(spans, docs - 4);
  EXPECT_LE(spans, docs);
  // Prose rows have no answers.
  PretrainDataOptions prose = f.Options(128);
  prose.synthetic_share = 0.0;
  std::vector<uint8_t> mask;
  const std::vector<int32_t> r = PretrainData(*f.tok, prose).Row(0, 0, 256, &mask);
  EXPECT_EQ(mask, std::vector<uint8_t>(r.size(), 0));
}

TorchLlamaConfig SmallConfig() {
  TorchLlamaConfig c;
  c.n_vocab = 32000;
  c.shape.n_embd = 64, c.shape.n_layer = 2, c.shape.n_head = 4, c.shape.n_head_kv = 2, c.shape.head_dim = 16;
  c.shape.n_ff = 96;
  return c;
}

// The weighted loss is sum(w * ce) / sum(w): unit weights give the mean, and a row of zero
// weight drops out (the loss equals the other row's alone), in double to rule out rounding.
TEST(TorchLlamaLoss, WeightsGiveTheWeightedMean) {
  TorchLlama m(SmallConfig(), 3);
  m->to(torch::kDouble);
  const torch::Tensor x = torch::randint(259, 32000, {2, 9}, torch::kLong), y = torch::randint(259, 32000, {2, 9}, torch::kLong);
  const double mean = m->Loss(x, y).item<double>();
  EXPECT_NEAR(m->Loss(x, y, torch::ones({2, 9})).item<double>(), mean, 1e-12 * mean);
  torch::Tensor w = torch::ones({2, 9});
  w[1].zero_();
  const double first = m->Loss(x.slice(0, 0, 1), y.slice(0, 0, 1)).item<double>();
  EXPECT_NEAR(m->Loss(x, y, w).item<double>(), first, 1e-12 * first);
  w = torch::ones({2, 9});
  w[0][4] = 7.0;  // one token counted 7 times
  const torch::Tensor ce = torch::cross_entropy_loss(m->forward(x).reshape({-1, 32000}), y.reshape(-1), {}, at::Reduction::None);
  const double expect = (ce.sum() + 6.0 * ce[4]).item<double>() / 24.0;
  EXPECT_NEAR(m->Loss(x, y, w).item<double>(), expect, 1e-12 * expect);
}

TEST(TorchLlamaImport, ReadsBackTheExportedWeights) {
  test::TempDir dir;
  TorchLlama a(SmallConfig(), 1), b(SmallConfig(), 2);
  {
    torch::NoGradGuard ng;
    for (auto& p : a->named_parameters()) {
      if (p.value().dim() == 1) p.value().add_(torch::randn_like(p.value()) * 0.1);  // norms off 1
    }
  }
  const std::string path = dir.File("a.gguf");
  a->ExportGguf(path, test::VocabPath("llama-spm"), "test");
  b->ImportGguf(path);
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    const torch::Tensor& x = pa[i].value();
    const torch::Tensor& y = pb[i].value();
    // Matrices are stored in f16 (round to nearest: relative error <= 2^-11), norms in f32.
    const torch::Tensor expect = x.dim() >= 2 ? x.to(torch::kHalf).to(torch::kFloat) : x;
    EXPECT_TRUE(torch::equal(expect, y)) << pa[i].key();
  }
}

TEST(TorchLlamaImport, RefusesAnotherShape) {
  test::TempDir dir;
  TorchLlama a(SmallConfig(), 1);
  const std::string path = dir.File("a.gguf");
  a->ExportGguf(path, test::VocabPath("llama-spm"), "test");
  TorchLlamaConfig wider = SmallConfig();
  wider.shape.n_ff = 128;
  TorchLlama b(wider, 1);
  try {
    b->ImportGguf(path);
    FAIL() << "another FFN width accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ffn"), std::string::npos) << e.what();
  }
  TorchLlamaConfig heads = SmallConfig();
  heads.shape.n_head = 2, heads.shape.n_head_kv = 1, heads.shape.head_dim = 32;  // same tensor shapes
  TorchLlama h(heads, 1);
  EXPECT_THROW(h->ImportGguf(path), Error);
  WriteTextFile(dir.File("junk.gguf"), "not a gguf");
  EXPECT_THROW(b->ImportGguf(dir.File("junk.gguf")), Error);
}

TEST(RetrievalProbe, AnUntrainedModelAnswersNothing) {
  auto tok = Tokenizer::Load(test::VocabPath("llama-spm"));
  std::string text;
  for (int i = 0; i < 10; ++i) text += kProse;
  const Haystack hay = Haystack::FromTexts({text});
  const RetrievalProbe probe(*tok, hay, 256, 3, 5);
  EXPECT_EQ(probe.size(), 6u);
  TorchLlama m(SmallConfig(), 1);
  // Five or seven digits by chance, from a random model: (1/32000)^5.
  EXPECT_EQ(probe.Accuracy(m, false), 0.0);
  EXPECT_TRUE(std::isnan(RetrievalProbe(*tok, Haystack(), 256, 3, 5).Accuracy(m, false)));
}

// An untrained model with a tied output predicts (mostly) its input token again, so a probe
// that compared each prediction with the token at its own position instead of the next one
// would score it near 100%; scored right, it is at chance (1 in ~32,000).
TEST(CopyProbe, AnUntrainedModelCopiesNothing) {
  DataFixture f;
  const PretrainData data(*f.tok, f.Options(64));
  const CopyProbe probe(data, 200, 6, 11);
  EXPECT_EQ(probe.size(), 6u);
  TorchLlama m(SmallConfig(), 1);
  EXPECT_LT(probe.Accuracy(m, false), 0.01);
  EXPECT_TRUE(std::isnan(CopyProbe(data, 200, 0, 11).Accuracy(m, false)));
}

}  // namespace
}  // namespace chunkllm
