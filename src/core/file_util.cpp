#include "core/file_util.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace chunkllm {

void WriteFileAtomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  try {
    write(tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    Fail(path, ": cannot move the finished file into place: ", why);
  }
}

void WriteTextFile(const std::string& path, const std::string& text) {
  WriteFileAtomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) Fail(path, ": cannot open for writing: ", std::strerror(errno));
    out << text;
    out.flush();
    if (!out) Fail(path, ": write failed: ", std::strerror(errno));
  });
}

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(path, ": cannot open: ", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> ListTextFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(p)) {
        if (e.path().extension() == ".txt") files.push_back(e.path().string());
      }
    } else if (std::filesystem::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      Fail(p, ": no such file or directory (run scripts/fetch-data.sh for the bundled corpus)");
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) Fail("no .txt documents in ", paths.empty() ? std::string("(no paths)") : paths.front());
  return files;
}

void RefuseHeldOutText(const std::vector<std::string>& paths, const std::string& use) {
  for (const auto& p : paths) {
    std::error_code ec;
    const std::filesystem::path dir =
        std::filesystem::is_directory(p, ec) ? std::filesystem::path(p) : std::filesystem::path(p).parent_path();
    const std::filesystem::path manifest = (dir.empty() ? std::filesystem::path(".") : dir) / "manifest.json";
    if (!std::filesystem::is_regular_file(manifest, ec)) continue;
    std::string purpose;
    try {
      purpose = nlohmann::json::parse(ReadTextFile(manifest.string())).value("purpose", "");
    } catch (const nlohmann::json::exception&) {
      continue;  // not a manifest of ours
    }
    if (purpose.rfind("held-out", 0) == 0) {
      Fail(p, ": held-out evaluation text (", manifest.string(), ": \"", purpose.substr(0, 60),
           "...\"); a model must never ", use, " it");
    }
  }
}

uint64_t FileSize(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) Fail(path, ": no such file");
  return std::filesystem::file_size(path, ec);
}

std::string ReadTextDocument(const std::string& path) {
  std::string text = ReadTextFile(path);
  if (text.empty()) Fail(path, ": empty document");
  const size_t nul = text.find('\0');
  if (nul != std::string::npos) Fail(path, ": not a text file (NUL byte at offset ", nul, ")");
  return text;
}

std::string TextFromFlags(const std::string& text, const std::string& file, const std::string& what) {
  if (!text.empty()) return text;
  if (file.empty()) Fail(what, " is empty: give -p TEXT or -f FILE");
  return ReadTextDocument(file);
}

}  // namespace chunkllm
