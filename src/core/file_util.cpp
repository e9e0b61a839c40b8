#include "core/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
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

std::string ReadTextDocument(const std::string& path) { return ReadTextDocument(path, TextLimit{}); }

std::string ReadTextDocument(const std::string& path, const TextLimit& limit) {
  std::unique_ptr<FILE, int (*)(FILE*)> fp(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!fp) Fail(path, ": cannot open: ", std::strerror(errno));
  std::string text;
  char buf[1 << 16];
  while (true) {
    const size_t n = std::fread(buf, 1, sizeof buf, fp.get());
    if (n == 0) break;
    const void* nul = std::memchr(buf, 0, n);
    if (nul) Fail(path, ": not a text file (NUL byte at offset ", text.size() + size_t(static_cast<const char*>(nul) - buf), ")");
    if (text.size() + n > limit.max_bytes) {
      Fail(path, ": longer than ", limit.max_bytes, " bytes, the most ", limit.reason.empty() ? "this command reads" : limit.reason,
           "; stopped reading there");
    }
    text.append(buf, n);
  }
  if (std::ferror(fp.get())) Fail(path, ": read failed: ", std::strerror(errno));
  if (text.empty()) Fail(path, ": empty document");
  return text;
}

std::string TextFromFlags(const std::string& text, const std::string& file, const std::string& what,
                          const TextLimit& limit) {
  if (!text.empty()) {
    if (text.size() > limit.max_bytes) {
      Fail(what, " is ", text.size(), " bytes, longer than ", limit.max_bytes, " bytes, the most ",
           limit.reason.empty() ? "this command reads" : limit.reason);
    }
    return text;
  }
  if (file.empty()) Fail(what, " is empty: give -p TEXT or -f FILE");
  return ReadTextDocument(file, limit);
}

void CheckWritableOutput(const std::string& path) {
  const std::string probe = path + ".probe." + std::to_string(getpid());
  const int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    Fail(path, ": cannot write there (", dir.empty() ? std::string(".") : dir.string(), "): ", std::strerror(errno));
  }
  close(fd);
  std::remove(probe.c_str());
}

StagedFolder::StagedFolder(const std::string& path, const std::function<bool(const std::string& name)>& replaceable)
    : path_(path) {
  namespace fs = std::filesystem;
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();  // "report/": the folder itself
  if (path_.empty() || path_ == "/" || path_ == "." || path_ == "..") Fail("'", path, "' cannot be an output folder");
  tmp_ = path_ + ".tmp." + std::to_string(getpid());
  std::error_code ec;
  const auto st = fs::symlink_status(path_, ec);
  if (!ec && fs::exists(st)) {
    if (!fs::is_directory(st)) Fail(path, ": exists and is not a folder");
    for (const auto& e : fs::directory_iterator(path_)) {
      const std::string name = e.path().filename().string();
      if (!e.is_regular_file() || !replaceable(name)) {
        Fail(path, ": the folder exists and holds '", name,
             "', which is not one of the outputs it would be replaced with; choose another folder or empty it");
      }
    }
  }
  fs::remove_all(tmp_, ec);
  if (!fs::create_directories(tmp_, ec)) Fail(tmp_, ": cannot create the folder: ", ec ? ec.message() : "it exists");
}

StagedFolder::~StagedFolder() {
  std::error_code ec;
  if (!committed_) std::filesystem::remove_all(tmp_, ec);
}

void StagedFolder::Commit() {
  namespace fs = std::filesystem;
  // The old folder (if any) steps aside, the new one takes its place, then the old one goes.
  std::error_code ec;
  const std::string old = path_ + ".old." + std::to_string(getpid());
  const bool had_old = fs::exists(fs::symlink_status(path_, ec));
  if (had_old && std::rename(path_.c_str(), old.c_str()) != 0) {
    Fail(path_, ": cannot move the old folder aside: ", std::strerror(errno));
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    if (had_old) std::rename(old.c_str(), path_.c_str());
    Fail(path_, ": cannot move the finished folder into place: ", why);
  }
  committed_ = true;
  if (had_old) fs::remove_all(old, ec);
}

}  // namespace chunkllm
