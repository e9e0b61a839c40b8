// Pretraining data and warm starts: packed synthetic rows are deterministic, full, made of
// whole documents (each BOS ... EOS, the answer never cut) and then one window of the training
// text, walked token by token; copy documents repeat their list; a GGUF imported into TorchLlama
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
  std::string text;  // the one training document
  PretrainDataOptions Options(int min_len) {
    text.clear();
    for (int i = 0; i < 30; ++i) text += kProse;
    WriteTextFile(dir.File("train.txt"), text);
    PretrainDataOptions o;
    o.train_paths = {dir.File("train.txt")};
    o.synthetic_share = 1.0;
    o.synthetic_min_lengths = {min_len};
    return o;
  }
  // The training token stream, BOS text EOS, that prose is cut from (cyclically).
  std::vector<int32_t> Stream() const {
    std::vector<int32_t> s = {tok->bos()};
    const std::vector<int32_t> ids = tok->Tokenize(text, false);
    s.insert(s.end(), ids.begin(), ids.end());
    s.push_back(tok->eos());
    return s;
  }
};

// PretrainData refuses options o with an Error whose message holds `needle`.
::testing::AssertionResult Refuses(const DataFixture& f, const PretrainDataOptions& o, const std::string& needle) {
  try {
    PretrainData data(*f.tok, o);
  } catch (const Error& e) {
    if (std::string(e.what()).find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "refused with \"" << e.what() << "\", not naming " << needle;
  }
  return ::testing::AssertionFailure() << "accepted the options (expected a refusal naming " << needle << ")";
}

int Count(const std::vector<int32_t>& row, int32_t id) { return int(std::count(row.begin(), row.end(), id)); }

// A synthetic row walked from its start: documents [begin, end], each with BOS at begin, EOS at
// end and neither between, then the prose tail from `tail` on. The walk stops at the first BOS
// that is not closed by an EOS before the next BOS: that, or anything not BOS, starts the tail.
struct WalkedRow {
  std::vector<std::pair<size_t, size_t>> docs;
  size_t tail = 0;
};

WalkedRow Walk(const std::vector<int32_t>& r, const Tokenizer& tok) {
  WalkedRow w;
  size_t b = 0;
  while (b < r.size() && r[b] == tok.bos()) {
    size_t e = b + 1;
    while (e < r.size() && r[e] != tok.eos() && r[e] != tok.bos()) ++e;
    if (e == r.size() || r[e] != tok.eos()) break;
    w.docs.push_back({b, e});
    b = e + 1;
  }
  w.tail = b;
  return w;
}

// Whether r[begin, end) is a window of the stream taken cyclically (as prose padding is).
bool IsStreamWindow(const std::vector<int32_t>& r, size_t begin, const std::vector<int32_t>& stream) {
  for (size_t o = 0; o < stream.size(); ++o) {
    size_t i = begin;
    while (i < r.size() && r[i] == stream[(o + i - begin) % stream.size()]) ++i;
    if (i == r.size()) return true;
  }
  return false;
}

// The packing rule, checked exactly on one synthetic row: whole documents (BOS ... answer. EOS)
// from the row's start, then one prose window of the training stream to fill the row. That
// window is the only cut text of a row; it may hold one training-document boundary (EOS BOS),
// whose tokens are then the only BOS/EOS outside the documents. Returns the documents.
WalkedRow ExpectPackedRow(const std::vector<int32_t>& r, const DataFixture& f, const std::string& where) {
  const WalkedRow w = Walk(r, *f.tok);
  EXPECT_GE(w.docs.size(), 1u) << where << ": the row does not start with a whole document";
  for (const auto& [b, e] : w.docs) {
    // Every document ends with its answer's full stop: its end was not cut.
    const std::string text = f.tok->Detokenize({r.begin() + long(b), r.begin() + long(e)});
    EXPECT_TRUE(!text.empty() && text.back() == '.') << where << ": document at " << b << " ends '"
                                                     << text.substr(text.size() - std::min<size_t>(text.size(), 40)) << "'";
  }
  EXPECT_TRUE(IsStreamWindow(r, w.tail, f.Stream()))
      << where << ": the " << r.size() - w.tail << " tokens after the " << w.docs.size()
      << " documents are not a window of the training text (a cut document?)";
  const std::vector<int32_t> tail(r.begin() + long(w.tail), r.end());
  EXPECT_EQ(Count(r, f.tok->bos()), int(w.docs.size()) + Count(tail, f.tok->bos())) << where;
  EXPECT_EQ(Count(r, f.tok->eos()), int(w.docs.size()) + Count(tail, f.tok->eos())) << where;
  return w;
}

TEST(PretrainData, PackedSyntheticRowsHoldWholeDocuments) {
  DataFixture f;
  const PretrainData data(*f.tok, f.Options(128));
  const int T = 1024;
  // The training document is longer than a row, so a prose window holds at most one of its
  // boundaries (EOS BOS) and never a whole BOS ... EOS: the walk cannot take it for a document.
  ASSERT_GT(f.Stream().size(), size_t(T + 1));
  size_t docs = 0;
  for (int row = 0; row < 6; ++row) {
    const std::vector<int32_t> r = data.Row(3, row, T);
    ASSERT_EQ(r.size(), size_t(T + 1));
    EXPECT_EQ(r, data.Row(3, row, T)) << "rows are a pure function of (seed, step, row, T)";
    docs += ExpectPackedRow(r, f, "row " + std::to_string(row)).docs.size();
  }
  // Documents of 128..1024 tokens, log-uniform: about three per row, never one per row.
  EXPECT_GE(docs, 12u) << "rows are not packed";
}

// A packed row ends when the room left is below the minimum length, or when a document drawn
// at the whole room left does not fit: a draw of fewer tokens than its task's shortest document
// (with its question and answer, ~100-190) is no reason to stop. Documents of every task fit
// 256 tokens (checked first, on rows of one document), so no packed row ends with 256 tokens of
// prose or more, and none of 1025 tokens is all prose.
TEST(PretrainData, PackedSyntheticRowsAreFull) {
  DataFixture f;
  const PretrainDataOptions packed = f.Options(128);
  for (const std::string& task : packed.synthetic_tasks) {
    PretrainDataOptions one = f.Options(0);
    one.synthetic_tasks = {task};
    const PretrainData data(*f.tok, one);
    for (int row = 0; row < 8; ++row) {
      EXPECT_EQ(ExpectPackedRow(data.Row(0, row, 255), f, task + " row " + std::to_string(row)).docs.size(), 1u);
    }
  }
  const PretrainData data(*f.tok, packed);
  for (int row = 0; row < 40; ++row) {
    const std::vector<int32_t> r = data.Row(7, row, 1024);
    const WalkedRow w = ExpectPackedRow(r, f, "row " + std::to_string(row));
    EXPECT_LT(r.size() - w.tail, 256u) << "row " << row << ": " << w.docs.size() << " documents, then "
                                       << r.size() - w.tail << " tokens of prose";
  }
}

TEST(PretrainData, UnpackedSyntheticRowsHoldOneDocument) {
  DataFixture f;
  const PretrainData data(*f.tok, f.Options(0));
  ASSERT_GT(f.Stream().size(), 513u);
  for (int row = 0; row < 4; ++row) {
    const std::vector<int32_t> r = data.Row(1, row, 512);
    ASSERT_EQ(r.size(), 513u);
    // One synthetic document, then prose.
    EXPECT_EQ(ExpectPackedRow(r, f, "row " + std::to_string(row)).docs.size(), 1u);
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
  EXPECT_TRUE(Refuses(f, o, "--copy-items"));
}

// The out-of-template tasks are the evaluation's held-out wordings: no training mix takes them.
TEST(PretrainData, RefusesTheHeldOutTasks) {
  DataFixture f;
  PretrainDataOptions o = f.Options(64);
  o.synthetic_tasks = {"passkey", "oot_passkey"};
  EXPECT_TRUE(Refuses(f, o, "'oot_passkey' is held out"));
}

// --synthetic-tasks NAME[:W]: a document draws task i with probability w_i / sum. Rows of one
// document each (min length 0) name their task by their text: passkey's holds "The pass key is",
// varied_single's never does. At weights 1:3 over 400 rows the passkey count is binomial
// (mean 100, sd 8.7): 60..140 is more than 4.5 sd either side. Weights all 1 draw the rows of
// before the weights, token for token (earlier stages stay reproducible).
TEST(PretrainData, SyntheticTaskWeightsSetTheMix) {
  DataFixture f;
  PretrainDataOptions o = f.Options(0);
  ParseSyntheticTasks("passkey:1,varied_single:3", o);
  ASSERT_EQ(o.synthetic_tasks, (std::vector<std::string>{"passkey", "varied_single"}));
  ASSERT_EQ(o.synthetic_task_weights, (std::vector<int>{1, 3}));
  const PretrainData weighted(*f.tok, o);
  int passkey = 0;
  const int rows = 400;
  for (int row = 0; row < rows; ++row) {
    const std::vector<int32_t> r = weighted.Row(1, row, 384);
    passkey += f.tok->Detokenize({r.begin(), r.end()}).find("The pass key is") != std::string::npos;
  }
  EXPECT_GE(passkey, 60);
  EXPECT_LE(passkey, 140);

  PretrainDataOptions plain = f.Options(64);
  plain.synthetic_tasks = {"passkey", "niah_single", "vt"};
  PretrainDataOptions ones = plain;
  ParseSyntheticTasks("passkey,niah_single:1,vt", ones);
  ASSERT_EQ(ones.synthetic_task_weights, (std::vector<int>{1, 1, 1}));
  const PretrainData a(*f.tok, plain), b(*f.tok, ones);
  for (int row = 0; row < 6; ++row) EXPECT_EQ(a.Row(3, row, 512), b.Row(3, row, 512)) << "row " << row;
}

TEST(PretrainData, RefusesBadSyntheticTaskLists) {
  PretrainDataOptions o;
  for (const char* bad : {"passkey:0", "passkey:-1", "passkey:x", "passkey:", "nosuchtask", "passkey,,vt"}) {
    try {
      ParseSyntheticTasks(bad, o);
      ADD_FAILURE() << "accepted --synthetic-tasks " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--synthetic-tasks"), std::string::npos) << e.what();
    }
  }
  DataFixture f;
  PretrainDataOptions held = f.Options(64);
  ParseSyntheticTasks("varied_single:4,oot_multikey:1", held);
  EXPECT_TRUE(Refuses(f, held, "'oot_multikey' is held out"));
}

// A folder whose manifest declares it held out (scripts/fetch-heldout-text.sh) is never training
// data: pretraining refuses it, by folder and by file; the same folder without the declaration
// trains.
TEST(PretrainData, RefusesHeldOutText) {
  DataFixture f;
  PretrainDataOptions o = f.Options(64);
  o.synthetic_share = 0.0;
  WriteTextFile(f.dir.File("manifest.json"), R"({"purpose": "held-out haystack text; never train on it"})");
  for (const std::string& path : {f.dir.path(), f.dir.File("train.txt")}) {
    o.train_paths = {path};
    EXPECT_TRUE(Refuses(f, o, "held-out evaluation text")) << path;
  }
  WriteTextFile(f.dir.File("manifest.json"), R"({"purpose": "training prose"})");
  EXPECT_NO_THROW(PretrainData(*f.tok, o));
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
// and its full stop: after " The pass key is", before the EOS, one span per document, none in
// the prose tail.
TEST(PretrainData, AnswerMaskCoversExactlyTheAnswers) {
  DataFixture f;
  PretrainDataOptions o = f.Options(128);
  o.synthetic_tasks = {"passkey"};
  const PretrainData data(*f.tok, o);
  size_t docs = 0;
  for (int row = 0; row < 4; ++row) {
    std::vector<uint8_t> mask;
    const std::vector<int32_t> r = data.Row(2, row, 1024, &mask);
    ASSERT_EQ(mask.size(), r.size());
    EXPECT_EQ(r, data.Row(2, row, 1024)) << "the mask does not change the row";
    const WalkedRow w = ExpectPackedRow(r, f, "row " + std::to_string(row));
    docs += w.docs.size();
    for (const auto& [b, e] : w.docs) {
      // The document's one span ends at its EOS (exclusive): walk back from there.
      size_t i = e;
      while (i > b && mask[i - 1]) --i;
      EXPECT_EQ(std::count(mask.begin() + long(b), mask.begin() + long(e) + 1, 1), long(e - i))
          << "row " << row << ": document at " << b << " has mask outside the span before its EOS";
      if (i == e) {
        ADD_FAILURE() << "row " << row << ": document at " << b << " has no answer span";
        continue;
      }
      // The digits and the full stop (detokenizing a span drops its first piece's leading space).
      const std::string answer = f.tok->Detokenize({r.begin() + long(i), r.begin() + long(e)});
      const std::string before = f.tok->Detokenize({r.begin() + long(std::max(i, b + 12) - 12), r.begin() + long(i)});
      EXPECT_TRUE(answer.size() >= 2 && answer.back() == '.' &&
                  std::all_of(answer.begin(), answer.end() - 1, [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
          << "'" << answer << "'";
      ASSERT_GE(before.size(), 15u);
      EXPECT_EQ(before.substr(before.size() - 15), "The pass key is") << before;
    }
    EXPECT_TRUE(std::all_of(mask.begin() + long(w.tail), mask.end(), [](uint8_t m) { return m == 0; }))
        << "row " << row << ": mask in the prose tail";
  }
  EXPECT_GE(docs, 8u);
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
