#include <cstdio>

#include "app/inspect.h"
#include "cli/commands.h"

namespace chunkllm::cli {

void RegisterInspect(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* c = app.add_subcommand("inspect", "show a GGUF file's metadata and tensor table");
  c->add_option("file", *path, "GGUF file")->required()->check(CLI::ExistingFile);
  c->add_flag("--json", *json, "JSON output");
  c->callback([path, json] { std::fputs(InspectGguf(*path, *json).c_str(), stdout); });
}

}  // namespace chunkllm::cli
