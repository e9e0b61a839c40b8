// The default of every selection knob, written once: the CLI's AttentionOptions
// (policy_factory.h) and the policies' own option structs (chunkllm_policy.h,
// window_policy.h) take their defaults from here, so a test that builds a policy directly
// gets what `--attn` gets. Why each value: the flags' help and docs/benchmarks.md.
#pragma once

namespace chunkllm::selection_defaults {

inline constexpr int kTopk = 8;            // chunks selected at each boundary (the paper's k)
inline constexpr int kLocal = 2;           // latest chunks always kept (the paper's)
inline constexpr int kLocalTokens = 256;   // ours: more latest chunks until they hold this many tokens
inline constexpr int kSink = 4;            // first tokens always kept
inline constexpr int kLayerTopk = 4;       // ours: each layer's own top chunks beside the voted set
inline constexpr int kWindow = 256;        // recent tokens of streaming, sepllm, fixllm
inline constexpr int kStride = 8;          // fixllm: every n-th token
inline constexpr int kChunkLen = 24;       // chunk-fixed: tokens per chunk
inline constexpr const char* kSelectQuery = "last";
inline constexpr const char* kFirstSelection = "dense-step";

}  // namespace chunkllm::selection_defaults
