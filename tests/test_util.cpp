#include "test_util.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/file_util.h"

extern char** environ;

namespace chunkllm::test {

TempDir::TempDir() {
  char tmpl[] = "/tmp/chunkllm-test-XXXXXX";
  const char* p = mkdtemp(tmpl);
  if (!p) std::abort();
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string VocabPath(const std::string& name) {
  return std::string(CHUNKLLM_VOCAB_DIR) + "/ggml-vocab-" + name + ".gguf";
}

RandomModelSpec SmallSpec(Arch arch, const std::string& vocab) {
  RandomModelSpec s;
  s.arch = arch;
  s.vocab_path = VocabPath(vocab);
  s.n_embd = 64, s.n_layer = 2, s.n_head = 4, s.n_head_kv = 2, s.n_ff = 128;
  return s;
}

std::string FixtureModel(const std::string& key, const RandomModelSpec& spec) {
  static TempDir dir;
  static std::map<std::string, std::string> made;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto it = made.find(key);
  if (it != made.end()) return it->second;
  const std::string path = dir.File(key + ".gguf");
  WriteRandomModel(spec, path);
  made[key] = path;
  return path;
}

CliResult RunCli(const std::vector<std::string>& args, int timeout_s, const std::string& program) {
  const char* env_bin = std::getenv("CHUNKLLM_BIN");
  const std::string bin = !program.empty() ? program : env_bin && *env_bin ? env_bin : CHUNKLLM_BIN;
  TempDir io;
  const std::string out_path = io.File("out"), err_path = io.File("err");
  std::vector<std::string> argv_s = {bin};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  CliResult r;
  if (posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    r.err = "cannot spawn " + bin;
    return r;
  }
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  struct rusage usage = {};
  for (int waited_ms = 0;; waited_ms += 10) {
    const pid_t w = wait4(pid, &status, WNOHANG, &usage);
    if (w == pid) break;
    if (waited_ms > timeout_s * 1000) {  // a hang is a failure, not a stuck suite
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.err = "timed out";
      return r;
    }
    usleep(10000);
  }
  r.max_rss_kb = usage.ru_maxrss;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = ReadTextFile(out_path);
  r.err = ReadTextFile(err_path);
  return r;
}

}  // namespace chunkllm::test
