// The corrupt-file suite: GGUF files broken by hand, byte by byte, at every section of the
// format (header, metadata, tensor table, data), and files whose tensors are the wrong type for
// the architecture. Each must be refused by the real binary with a message naming the file and
// the key or tensor at fault, without a crash, and with no more memory than loading the intact
// file takes. The cases are BadInput.*, so ctest runs them again against chunkllm-asan.
#include <gtest/gtest.h>

#include <cstring>

#include "core/file_util.h"
#include "corrupt_files.h"
#include "gguf.h"
#include "test_util.h"

namespace chunkllm {
namespace {

std::string Model() { return test::FixtureModel("corrupt-gguf", test::SmallSpec()); }

using test::CorruptCase;
using test::CutAt;
using test::GgufLayout;
using test::PutAt;

// The command that loads a model: a one-token run.
std::vector<std::string> RunModel(const std::string& path) { return {"run", "-m", path, "-p", "hi", "-n", "1", "-c", "64"}; }

void ExpectRefused(const std::vector<CorruptCase>& cases) { test::ExpectCorruptFilesRefused(Model(), RunModel, cases); }

TEST(BadInput, CorruptGgufTruncatedAtEverySection) {
  ExpectRefused({
      CutAt("empty", [](const GgufLayout&) { return size_t(0); }, "not a GGUF file"),
      CutAt("in-magic", [](const GgufLayout&) { return size_t(2); }, "not a GGUF file"),
      CutAt("after-magic", [](const GgufLayout&) { return size_t(4); }, "corrupt GGUF"),
      CutAt("in-counts", [](const GgufLayout&) { return size_t(12); }, "corrupt GGUF"),
      CutAt("after-counts", [](const GgufLayout&) { return size_t(24); }, "corrupt GGUF"),
      CutAt("in-key", [](const GgufLayout& l) { return l.kvs[1].begin + 10; }, "corrupt GGUF"),
      CutAt("in-key-type", [](const GgufLayout& l) { return l.kvs[1].type + 2; }, "corrupt GGUF"),
      CutAt("in-string-value", [](const GgufLayout& l) { return l.kvs[0].value + 9; }, "corrupt GGUF"),
      CutAt("in-array", [](const GgufLayout& l) {
        const auto& kv = l.kv("tokenizer.ggml.tokens");
        return (kv.value + kv.end) / 2;
      }, "corrupt GGUF"),
      CutAt("after-metadata", [](const GgufLayout& l) { return l.kvs.back().end; }, "corrupt GGUF"),
      CutAt("in-tensor-name", [](const GgufLayout& l) { return l.tensors[3].begin + 12; }, "corrupt GGUF"),
      CutAt("in-tensor-shape", [](const GgufLayout& l) { return l.tensors[3].ne + 4; }, "corrupt GGUF"),
      CutAt("in-tensor-offset", [](const GgufLayout& l) { return l.tensors.back().offset + 3; }, "corrupt GGUF"),
      CutAt("before-data", [](const GgufLayout& l) { return l.data; }, "truncated"),
      CutAt("in-data", [](const GgufLayout& l) { return l.data + 1000; }, "truncated"),
      CutAt("last-byte", [](const GgufLayout&) { return size_t(-1); }, "truncated"),
  });
}

TEST(BadInput, CorruptGgufHeader) {
  ExpectRefused({
      {"magic", [](std::string b, const GgufLayout&) { return b.replace(0, 4, "GGUG"); }, "magic at offset 0 is 'GGUG'"},
      {"version-0", [](std::string b, const GgufLayout&) { PutAt<uint32_t>(b, 4, 0); return b; }, "version"},
      {"version-1", [](std::string b, const GgufLayout&) { PutAt<uint32_t>(b, 4, 1); return b; }, "GGUFv1"},
      {"version-4", [](std::string b, const GgufLayout&) { PutAt<uint32_t>(b, 4, 4); return b; }, "version 4"},
      {"big-endian", [](std::string b, const GgufLayout&) { PutAt<uint32_t>(b, 4, 0x03000000); return b; }, "endianness"},
      {"tensor-count", [](std::string b, const GgufLayout&) { PutAt<int64_t>(b, 8, int64_t(1) << 40); return b; }, "corrupt GGUF"},
      {"negative-tensor-count", [](std::string b, const GgufLayout&) { PutAt<int64_t>(b, 8, -1); return b; }, "number of tensors"},
      {"kv-count", [](std::string b, const GgufLayout&) { PutAt<int64_t>(b, 16, int64_t(1) << 40); return b; }, "corrupt GGUF"},
  });
}

TEST(BadInput, CorruptGgufMetadata) {
  const std::string first_key = test::WalkGguf(ReadTextFile(Model())).kvs[0].key;
  ExpectRefused({
      // A string whose length runs past the end of the file, and one longer than any allowed.
      {"string-without-end", [&](std::string b, const GgufLayout& l) { PutAt<uint64_t>(b, l.kv("general.name").value, b.size()); return b; }, "corrupt GGUF"},
      {"key-without-end", [&](std::string b, const GgufLayout& l) { PutAt<uint64_t>(b, l.kvs[2].begin, uint64_t(1) << 62); return b; }, "corrupt GGUF"},
      {"array-count", [&](std::string b, const GgufLayout& l) { PutAt<uint64_t>(b, l.kv("tokenizer.ggml.tokens").value + 4, uint64_t(1) << 40); return b; }, "corrupt GGUF"},
      {"value-type", [&](std::string b, const GgufLayout& l) { PutAt<uint32_t>(b, l.kv("llama.block_count").type, 99); return b; }, "key 'llama.block_count' has value type 99"},
      // A key of the wrong type for what it holds (u32 read as f32: same size, so it parses).
      {"block-count-float", [&](std::string b, const GgufLayout& l) { PutAt<uint32_t>(b, l.kv("llama.block_count").type, GGUF_TYPE_FLOAT32); return b; }, "'llama.block_count' should be an integer"},
      {"arch-not-a-string", [&](std::string b, const GgufLayout& l) {
         const auto k = l.kv("general.architecture");  // a u64: the string's length field is its value
         PutAt<uint32_t>(b, k.type, GGUF_TYPE_UINT64);
         return b.erase(k.value + 8, k.end - k.value - 8);
       }, "'general.architecture' should be a string"},
      // Duplicate key: the first key-value pair again, in place of the second.
      {"duplicate-key", [&](std::string b, const GgufLayout& l) {
         const std::string first = b.substr(l.kvs[0].begin, l.kvs[0].end - l.kvs[0].begin);
         b.insert(l.kvs[1].begin, first);
         PutAt<int64_t>(b, 16, int64_t(l.kvs.size() + 1));
         return b;
       }, "duplicate key '" + first_key + "'"},
  });
}

TEST(BadInput, CorruptGgufTensorTable) {
  const std::string l_last = test::WalkGguf(ReadTextFile(Model())).tensors.back().name;
  ExpectRefused({
      {"data-out-of-bounds", [&](std::string b, const GgufLayout& l) {
         const auto t = l.tensors.back();
         uint64_t off;
         std::memcpy(&off, b.data() + t.offset, 8);
         PutAt<uint64_t>(b, t.offset, off + (uint64_t(1) << 40));
         return b;
       }, "has offset"},
      {"overlapping", [&](std::string b, const GgufLayout& l) { PutAt<uint64_t>(b, l.tensors[2].offset, 0); return b; }, "has offset 0"},
      // (The last tensor: an earlier one would make ggml refuse the next one's offset first.)
      {"huge-dimension", [&](std::string b, const GgufLayout& l) { PutAt<int64_t>(b, l.tensors.back().ne + 8, int64_t(1) << 40); return b; },
       "tensor '" + l_last + "' needs"},
      {"element-count-overflow", [&](std::string b, const GgufLayout& l) {
         const auto t = l.tensor("blk.0.attn_q.weight");
         PutAt<int64_t>(b, t.ne, int64_t(1) << 40), PutAt<int64_t>(b, t.ne + 8, int64_t(1) << 40);
         return b;
       }, "blk.0.attn_q.weight"},
      {"negative-dimension", [&](std::string b, const GgufLayout& l) { PutAt<int64_t>(b, l.tensors[1].ne, -64); return b; }, "invalid number of elements"},
      {"unknown-type", [&](std::string b, const GgufLayout& l) { PutAt<int32_t>(b, l.tensors[4].type, 1000); return b; }, "has type 1000, which is not a ggml type"},
      {"duplicate-tensor", [&](std::string b, const GgufLayout& l) {  // attn_k takes attn_q's name
         const auto q = l.tensor("blk.0.attn_q.weight"), k = l.tensor("blk.0.attn_k.weight");
         b.replace(k.begin + 8, q.name.size(), q.name);
         return b;
       }, "duplicate tensor name 'blk.0.attn_q.weight'"},
      // Wrong types for the architecture, of the same size so the file still parses: an f32
      // norm read as i32, an f16 matrix read as i16 (no kernel multiplies those).
      {"norm-as-i32", [&](std::string b, const GgufLayout& l) { PutAt<int32_t>(b, l.tensor("blk.0.attn_norm.weight").type, GGML_TYPE_I32); return b; },
       "tensor 'blk.0.attn_norm.weight' has type i32"},
      {"matrix-as-i16", [&](std::string b, const GgufLayout& l) { PutAt<int32_t>(b, l.tensor("blk.1.attn_v.weight").type, GGML_TYPE_I16); return b; },
       "tensor 'blk.1.attn_v.weight' has type i16"},
  });
}

}  // namespace
}  // namespace chunkllm
