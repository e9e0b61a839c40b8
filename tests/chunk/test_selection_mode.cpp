// --selection: per-layer (each layer reads its own top chunks, the default) against shared (the
// layers vote for one set, the paper's, which --kv evict needs). Which one runs when the flag is
// not given, what is refused, and that each does what it says on adapters whose layers disagree.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "chunk/attention_options.h"
#include "chunk/chunkllm_policy.h"
#include "chunk/policy_fixture.h"
#include "core/error.h"

namespace chunkllm {
namespace {

using test::BiasOnlyAdapters, test::Fixture, test::MakeFixture, test::Params, test::RunSession, test::Options;

AttentionOptions Method(const char* name) {
  AttentionOptions o;
  o.method = ParseAttentionMethod(name);
  return o;
}

TEST(ChunkSelection, DefaultsAndRefusals) {
  EXPECT_EQ(Method("chunkllm").selection_mode(), ChunkSelection::kPerLayer);
  EXPECT_EQ(Method("oracle").selection_mode(), ChunkSelection::kPerLayer);
  EXPECT_EQ(Method("chunkllm").layer_topk_or_default(), 0) << "per-layer: nothing to add to";
  AttentionOptions o = Method("chunkllm");
  o.kv = KvMode::kEvict;
  EXPECT_EQ(o.selection_mode(), ChunkSelection::kShared) << "evicting keeps one shared set";
  o = Method("chunkllm");
  o.layer_topk = 0;  // the paper's rules ask for the set alone
  EXPECT_EQ(o.selection_mode(), ChunkSelection::kShared);
  o.layer_topk = 3;
  EXPECT_EQ(o.selection_mode(), ChunkSelection::kShared);
  EXPECT_EQ(o.layer_topk_or_default(), 3);
  o.selection = ChunkSelection::kShared, o.layer_topk = -1;
  EXPECT_EQ(o.layer_topk_or_default(), AttentionOptions::kDefaultLayerTopk);
  o = Method("chunk-fixed");
  o.selection = ChunkSelection::kShared;
  EXPECT_EQ(o.selection_mode(), ChunkSelection::kShared);
  o = Method("novote");
  o.selection = ChunkSelection::kShared;
  EXPECT_EQ(o.selection_mode(), ChunkSelection::kPerLayer) << "novote is the ablation without the vote";

  auto refused = [](const AttentionOptions& bad, const std::string& words) {
    try {
      CheckAttentionOptions(bad);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
      return;
    }
    ADD_FAILURE() << "accepted, expected an error with '" << words << "'";
  };
  o = Method("chunkllm");
  o.selection = ChunkSelection::kPerLayer, o.layer_topk = 2;
  refused(o, "--layer-topk");
  o = Method("chunkllm");
  o.selection = ChunkSelection::kPerLayer, o.kv = KvMode::kEvict;
  refused(o, "--kv evict");
  o = Method("chunkllm");
  o.selection = ChunkSelection::kShared, o.kv = KvMode::kEvict;
  EXPECT_NO_THROW(CheckAttentionOptions(o));
  EXPECT_EQ(ParseChunkSelection("per-layer"), ChunkSelection::kPerLayer);
  EXPECT_EQ(ParseChunkSelection("shared"), ChunkSelection::kShared);
  try {
    ParseChunkSelection("vote");
    ADD_FAILURE() << "accepted --selection vote";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--selection"), std::string::npos) << e.what();
  }
}

// Every layer's scores favour the chunk 3 back; layer 1's favour the chunk 7 back more. With k 1
// and the 2 latest chunks local, per-layer selection gives layer 1 the chunk 7 back and the
// others the chunk 3 back; the vote gives every layer the chunk 3 back (2 votes of 3).
TEST(ChunkSelection, PerLayerReadsEachLayersOwnBestAndSharedTheVotedOne) {
  const Fixture f = MakeFixture();
  AdapterSet a = BiasOnlyAdapters(f, 2, 10.0f);
  a.layers[1].distance_bias[6] = 20.0f;
  auto biased = std::make_shared<const AdapterRuntime>(std::move(a));
  ASSERT_EQ(f.model->config().n_layer, 3);
  for (const bool per_layer : {true, false}) {
    AttentionOptions o = Options("chunkllm", 1);
    o.layer_topk = per_layer ? -1 : 0;  // per-layer: the flags' defaults; shared: the paper's rules
    ASSERT_EQ(o.selection_mode(), per_layer ? ChunkSelection::kPerLayer : ChunkSelection::kShared);
    ChunkLlmPolicy policy(*f.model, biased, o);
    int checked = 0, chunks_before = -1;
    RunSession(f, &policy, Params(), [&](int) {
      const int C = policy.n_chunks();
      if (chunks_before >= 0 && C > chunks_before && C >= 7) {
        const std::vector<int> voted{C - 3, C - 2, C - 1}, own1{C - 7, C - 2, C - 1};
        EXPECT_EQ(policy.selected()[0], voted) << (per_layer ? "per-layer" : "shared");
        EXPECT_EQ(policy.selected()[1], per_layer ? own1 : voted) << (per_layer ? "per-layer" : "shared");
        EXPECT_EQ(policy.selected()[2], voted) << (per_layer ? "per-layer" : "shared");
        ++checked;
      }
      chunks_before = C;
    });
    EXPECT_GE(checked, 2);
  }
}

// With the fixture's trained adapters, chunkllm's per-layer selection is novote's at every step.
TEST(ChunkSelection, PerLayerChunkLlmSelectsAsNovote) {
  const Fixture f = MakeFixture();
  AttentionOptions o = Options("chunkllm", 2);
  o.selection = ChunkSelection::kPerLayer;
  ChunkLlmPolicy chunkllm(*f.model, f.adapters, o), novote(*f.model, f.adapters, Options("novote", 2));
  std::vector<std::vector<std::vector<int>>> a, b;
  RunSession(f, &chunkllm, Params(), [&](int) { a.push_back(chunkllm.selected()); });
  RunSession(f, &novote, Params(), [&](int) { b.push_back(novote.selected()); });
  ASSERT_GT(a.size(), 30u);
  EXPECT_EQ(a, b);
  // ... and not the vote's somewhere (the layers of these adapters disagree at times).
  ChunkLlmPolicy shared(*f.model, f.adapters, Options("chunkllm", 2));
  std::vector<std::vector<std::vector<int>>> c;
  RunSession(f, &shared, Params(), [&](int) { c.push_back(shared.selected()); });
  EXPECT_NE(a, c);
}

}  // namespace
}  // namespace chunkllm
