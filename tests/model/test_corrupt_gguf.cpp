// The corrupt-file suite: GGUF files broken by hand, byte by byte, at every section of the
// format (header, metadata, tensor table, data), and files whose tensors are the wrong type for
// the architecture. Each must be refused by the real binary with a message naming the file and
// the key or tensor at fault, without a crash, and with no more memory than loading the intact
// file takes. The cases are BadInput.*, so ctest runs them again against chunkllm-asan.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "core/file_util.h"
#include "gguf.h"
#include "test_util.h"

namespace chunkllm {
namespace {

std::string Model() { return test::FixtureModel("corrupt-gguf", test::SmallSpec()); }

// Where each part of a GGUF file starts (GGUF v3: docs in llama.cpp's ggml/docs/gguf.md).
struct Layout {
  struct Kv {
    std::string key;
    size_t begin = 0, type = 0, value = 0, end = 0;  // key length field, type field, value, next
  };
  struct TensorInfo {
    std::string name;
    size_t begin = 0, ne = 0, type = 0, offset = 0, end = 0;
  };
  std::vector<Kv> kvs;
  std::vector<TensorInfo> tensors;
  size_t data = 0;  // first byte of the data section
};

Layout Walk(const std::string& b) {
  size_t p = 0;
  auto u32 = [&] { uint32_t v; std::memcpy(&v, b.data() + p, 4); p += 4; return v; };
  auto u64 = [&] { uint64_t v; std::memcpy(&v, b.data() + p, 8); p += 8; return v; };
  auto str = [&] { const uint64_t n = u64(); std::string s = b.substr(p, n); p += n; return s; };
  auto scalar_size = [](uint32_t type) -> size_t {
    switch (type) {
      case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
      case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
      case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
      default: return 8;
    }
  };
  Layout l;
  p = 8;
  const uint64_t n_tensors = u64(), n_kv = u64();
  for (uint64_t i = 0; i < n_kv; ++i) {
    Layout::Kv kv;
    kv.begin = p;
    kv.key = str();
    kv.type = p;
    const uint32_t type = u32();
    kv.value = p;
    if (type == GGUF_TYPE_STRING) {
      str();
    } else if (type == GGUF_TYPE_ARRAY) {
      const uint32_t et = u32();
      const uint64_t n = u64();
      for (uint64_t k = 0; k < n; ++k) {
        if (et == GGUF_TYPE_STRING) str();
        else p += scalar_size(et);
      }
    } else {
      p += scalar_size(type);
    }
    kv.end = p;
    l.kvs.push_back(kv);
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    Layout::TensorInfo t;
    t.begin = p;
    t.name = str();
    const uint32_t n_dims = u32();
    t.ne = p;
    p += 8 * n_dims;
    t.type = p;
    p += 4;
    t.offset = p;
    p += 8;
    t.end = p;
    l.tensors.push_back(t);
  }
  l.data = (p + 31) / 32 * 32;
  return l;
}

template <typename T>
void Put(std::string& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

struct Case {
  std::string name;
  std::function<std::string(const std::string&, const Layout&)> corrupt;
  std::string needle;  // in the message besides the file name ("" for any of the usual words)
};

// The peak memory of loading the intact file: a corrupt one must never need more.
long GoodRssKb() {
  static const long kb = [] {
    const test::CliResult r = test::RunCli({"run", "-m", Model(), "-p", "hi", "-n", "1", "-c", "64"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.max_rss_kb;
  }();
  return kb;
}

void ExpectRefused(const std::vector<Case>& cases, const std::vector<std::string>& args_before_model = {"run", "-m"},
                   const std::vector<std::string>& args_after = {"-p", "hi", "-n", "1", "-c", "64"},
                   const std::string& source = "") {
  test::TempDir dir;
  const std::string original = ReadTextFile(source.empty() ? Model() : source);
  const Layout layout = Walk(original);
  const long good_kb = GoodRssKb();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.File(c.name + ".gguf");
    WriteTextFile(path, c.corrupt(original, layout));
    std::vector<std::string> args = args_before_model;
    args.push_back(path);
    args.insert(args.end(), args_after.begin(), args_after.end());
    const test::CliResult r = test::RunCli(args, 60);
    EXPECT_EQ(r.signal, 0) << r.err;
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(r.err.find("AddressSanitizer"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("runtime error"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("error: " + path), std::string::npos) << "the message does not start with the file:\n" << r.err;
    if (!c.needle.empty()) EXPECT_NE(r.err.find(c.needle), std::string::npos) << "no '" << c.needle << "' in:\n" << r.err;
    // Memory: no more than the intact file's load (the sanitizer build's RSS is not comparable).
    const char* bin = std::getenv("CHUNKLLM_BIN");
    if (!(bin && std::string(bin).find("asan") != std::string::npos)) {
      EXPECT_LE(r.max_rss_kb, good_kb + good_kb / 2 + 16 * 1024) << "peak RSS " << r.max_rss_kb << " kB, intact file " << good_kb;
    }
  }
}

std::string Cut(const std::string& b, size_t n) { return b.substr(0, n); }

TEST(BadInput, CorruptGgufTruncatedAtEverySection) {
  std::vector<Case> cases;
  auto cut = [&](const std::string& name, std::function<size_t(const Layout&)> at, const std::string& needle) {
    cases.push_back({name, [at](const std::string& b, const Layout& l) { return Cut(b, at(l)); }, needle});
  };
  cut("empty", [](const Layout&) { return size_t(0); }, "not a GGUF file");
  cut("in-magic", [](const Layout&) { return size_t(2); }, "not a GGUF file");
  cut("after-magic", [](const Layout&) { return size_t(4); }, "corrupt GGUF");
  cut("in-counts", [](const Layout&) { return size_t(12); }, "corrupt GGUF");
  cut("after-counts", [](const Layout&) { return size_t(24); }, "corrupt GGUF");
  cut("in-key", [](const Layout& l) { return l.kvs[1].begin + 10; }, "corrupt GGUF");
  cut("in-key-type", [](const Layout& l) { return l.kvs[1].type + 2; }, "corrupt GGUF");
  cut("in-string-value", [](const Layout& l) { return l.kvs[0].value + 9; }, "corrupt GGUF");
  cut("in-array", [](const Layout& l) {
    for (const auto& kv : l.kvs) if (kv.key == "tokenizer.ggml.tokens") return (kv.value + kv.end) / 2;
    return size_t(0);
  }, "corrupt GGUF");
  cut("after-metadata", [](const Layout& l) { return l.kvs.back().end; }, "corrupt GGUF");
  cut("in-tensor-name", [](const Layout& l) { return l.tensors[3].begin + 12; }, "corrupt GGUF");
  cut("in-tensor-shape", [](const Layout& l) { return l.tensors[3].ne + 4; }, "corrupt GGUF");
  cut("in-tensor-offset", [](const Layout& l) { return l.tensors.back().offset + 3; }, "corrupt GGUF");
  cut("before-data", [](const Layout& l) { return l.data; }, "truncated");
  cut("in-data", [](const Layout& l) { return l.data + 1000; }, "truncated");
  cut("last-byte", [](const Layout&) { return size_t(-1); }, "truncated");
  for (Case& c : cases) {
    auto inner = c.corrupt;
    c.corrupt = [inner](const std::string& b, const Layout& l) {
      const std::string r = inner(b, l);
      return r.size() == b.size() ? b.substr(0, b.size() - 1) : r;  // "last-byte"
    };
  }
  ExpectRefused(cases);
}

TEST(BadInput, CorruptGgufHeader) {
  ExpectRefused({
      {"magic", [](std::string b, const Layout&) { return b.replace(0, 4, "GGUG"); }, "magic at offset 0 is 'GGUG'"},
      {"version-0", [](std::string b, const Layout&) { Put<uint32_t>(b, 4, 0); return b; }, "version"},
      {"version-1", [](std::string b, const Layout&) { Put<uint32_t>(b, 4, 1); return b; }, "GGUFv1"},
      {"version-4", [](std::string b, const Layout&) { Put<uint32_t>(b, 4, 4); return b; }, "version 4"},
      {"big-endian", [](std::string b, const Layout&) { Put<uint32_t>(b, 4, 0x03000000); return b; }, "endianness"},
      {"tensor-count", [](std::string b, const Layout&) { Put<int64_t>(b, 8, int64_t(1) << 40); return b; }, "corrupt GGUF"},
      {"negative-tensor-count", [](std::string b, const Layout&) { Put<int64_t>(b, 8, -1); return b; }, "number of tensors"},
      {"kv-count", [](std::string b, const Layout&) { Put<int64_t>(b, 16, int64_t(1) << 40); return b; }, "corrupt GGUF"},
  });
}

TEST(BadInput, CorruptGgufMetadata) {
  const std::string first_key = Walk(ReadTextFile(Model())).kvs[0].key;
  auto kv = [](const Layout& l, const std::string& key) {
    for (const auto& k : l.kvs) if (k.key == key) return k;
    ADD_FAILURE() << "no key " << key;
    return l.kvs[0];
  };
  ExpectRefused({
      // A string whose length runs past the end of the file, and one longer than any allowed.
      {"string-without-end", [&](std::string b, const Layout& l) { Put<uint64_t>(b, kv(l, "general.name").value, b.size()); return b; }, "corrupt GGUF"},
      {"key-without-end", [&](std::string b, const Layout& l) { Put<uint64_t>(b, l.kvs[2].begin, uint64_t(1) << 62); return b; }, "corrupt GGUF"},
      {"array-count", [&](std::string b, const Layout& l) { Put<uint64_t>(b, kv(l, "tokenizer.ggml.tokens").value + 4, uint64_t(1) << 40); return b; }, "corrupt GGUF"},
      {"value-type", [&](std::string b, const Layout& l) { Put<uint32_t>(b, kv(l, "llama.block_count").type, 99); return b; }, "key 'llama.block_count' has value type 99"},
      // A key of the wrong type for what it holds (u32 read as f32: same size, so it parses).
      {"block-count-float", [&](std::string b, const Layout& l) { Put<uint32_t>(b, kv(l, "llama.block_count").type, GGUF_TYPE_FLOAT32); return b; }, "'llama.block_count' should be an integer"},
      {"arch-not-a-string", [&](std::string b, const Layout& l) {
         const auto k = kv(l, "general.architecture");  // a u64: the string's length field is its value
         Put<uint32_t>(b, k.type, GGUF_TYPE_UINT64);
         return b.erase(k.value + 8, k.end - k.value - 8);
       }, "'general.architecture' should be a string"},
      // Duplicate key: the first key-value pair again, in place of the second.
      {"duplicate-key", [&](std::string b, const Layout& l) {
         const std::string first = b.substr(l.kvs[0].begin, l.kvs[0].end - l.kvs[0].begin);
         b.insert(l.kvs[1].begin, first);
         Put<int64_t>(b, 16, int64_t(l.kvs.size() + 1));
         return b;
       }, "duplicate key '" + first_key + "'"},
  });
}

TEST(BadInput, CorruptGgufTensorTable) {
  const std::string l_last = Walk(ReadTextFile(Model())).tensors.back().name;
  auto tensor = [](const Layout& l, const std::string& name) {
    for (const auto& t : l.tensors) if (t.name == name) return t;
    ADD_FAILURE() << "no tensor " << name;
    return l.tensors[0];
  };
  ExpectRefused({
      {"data-out-of-bounds", [&](std::string b, const Layout& l) {
         const auto t = l.tensors.back();
         uint64_t off;
         std::memcpy(&off, b.data() + t.offset, 8);
         Put<uint64_t>(b, t.offset, off + (uint64_t(1) << 40));
         return b;
       }, "has offset"},
      {"overlapping", [&](std::string b, const Layout& l) { Put<uint64_t>(b, l.tensors[2].offset, 0); return b; }, "has offset 0"},
      // (The last tensor: an earlier one would make ggml refuse the next one's offset first.)
      {"huge-dimension", [&](std::string b, const Layout& l) { Put<int64_t>(b, l.tensors.back().ne + 8, int64_t(1) << 40); return b; },
       "tensor '" + l_last + "' needs"},
      {"element-count-overflow", [&](std::string b, const Layout& l) {
         const auto t = tensor(l, "blk.0.attn_q.weight");
         Put<int64_t>(b, t.ne, int64_t(1) << 40), Put<int64_t>(b, t.ne + 8, int64_t(1) << 40);
         return b;
       }, "blk.0.attn_q.weight"},
      {"negative-dimension", [&](std::string b, const Layout& l) { Put<int64_t>(b, l.tensors[1].ne, -64); return b; }, "invalid number of elements"},
      {"unknown-type", [&](std::string b, const Layout& l) { Put<int32_t>(b, l.tensors[4].type, 1000); return b; }, "has type 1000, which is not a ggml type"},
      {"duplicate-tensor", [&](std::string b, const Layout& l) {  // attn_k takes attn_q's name
         const auto q = tensor(l, "blk.0.attn_q.weight"), k = tensor(l, "blk.0.attn_k.weight");
         b.replace(k.begin + 8, q.name.size(), q.name);
         return b;
       }, "duplicate tensor name 'blk.0.attn_q.weight'"},
      // Wrong types for the architecture, of the same size so the file still parses: an f32
      // norm read as i32, an f16 matrix read as i16 (no kernel multiplies those).
      {"norm-as-i32", [&](std::string b, const Layout& l) { Put<int32_t>(b, tensor(l, "blk.0.attn_norm.weight").type, GGML_TYPE_I32); return b; },
       "tensor 'blk.0.attn_norm.weight' has type i32"},
      {"matrix-as-i16", [&](std::string b, const Layout& l) { Put<int32_t>(b, tensor(l, "blk.1.attn_v.weight").type, GGML_TYPE_I16); return b; },
       "tensor 'blk.1.attn_v.weight' has type i16"},
  });
}

}  // namespace
}  // namespace chunkllm
