#include "options_file.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

namespace attnpaths::app {

namespace {

[[noreturn]] void fail(const std::string& message) { throw CLI::ConfigError(message, CLI::ExitCodes::ConfigError); }

// True if `s` is valid UTF-8 without NUL bytes (a text file).
bool is_text(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 9;
    if (c == 0 || extra == 9 || i + extra >= s.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += extra + 1;
  }
  return true;
}

std::string table_name(const std::vector<std::string>& parents, const char* separator = ".") {
  std::string s;
  for (const auto& p : parents) s += (s.empty() ? "" : separator) + p;
  return s;
}

// The subcommand named by a table ([data.markov] → app/data/markov), or nullptr.
CLI::App* table_command(CLI::App& app, const std::vector<std::string>& parents) {
  CLI::App* cur = &app;
  for (const auto& p : parents) {
    CLI::App* next = nullptr;
    for (CLI::App* sub : cur->get_subcommands([](CLI::App*) { return true; }))
      if (sub->check_name(p)) next = sub;
    if (next == nullptr) return nullptr;
    cur = next;
  }
  return cur;
}

CLI::Option* key_option(CLI::App& command, const std::string& key) {
  for (const std::string& name : {"--" + key, key.size() == 1 ? "-" + key : std::string(), key}) {
    if (name.empty()) continue;
    if (CLI::Option* op = command.get_option_no_throw(name)) return op;
  }
  return nullptr;
}

// Applies one key to an option that the command line did not set (CLI11's own conversion rules).
void apply(CLI::Option& op, const CLI::ConfigItem& item, const CLI::Config& format) {
  if (op.count() > 0) return;  // the command line wins
  if (op.get_expected_min() == 0)
    op.add_result(op.get_flag_value(item.name, format.to_flag(item)));
  else
    op.add_result(item.inputs);
  op.run_callback();
}

}  // namespace

std::string take_config_option(std::vector<std::string>& args) {
  std::string path;
  int found = 0;
  for (std::size_t i = args.size(); i-- > 0;) {  // reversed: the back is the first argument
    if (args[i] == "--") break;
    std::size_t take = 0;
    std::string value;
    if (args[i] == "--config") {
      if (i == 0) throw CLI::ArgumentMismatch("--config needs a FILE");
      value = args[i - 1];
      take = 2;
    } else if (args[i].rfind("--config=", 0) == 0) {
      value = args[i].substr(9);
      take = 1;
    }
    if (take == 0) continue;
    if (++found > 1) throw CLI::ArgumentMismatch("--config may be given once");
    path = value;
    const std::size_t first = take == 2 ? i - 1 : i;
    args.erase(args.begin() + static_cast<std::ptrdiff_t>(first), args.begin() + static_cast<std::ptrdiff_t>(i + 1));
    i = first;
  }
  return path;
}

void apply_options_file(const std::string& path, CLI::App& app, CLI::App& selected) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read the options file '" + path + "'");
  std::string text;  // read in blocks (GCC 12 warns falsely inside istreambuf_iterator)
  char block[4096];
  while (in.read(block, sizeof block) || in.gcount() > 0) text.append(block, static_cast<std::size_t>(in.gcount()));
  if (!is_text(text)) fail("the options file '" + path + "' is not a text (TOML) file");
  CLI::ConfigTOML format;
  std::istringstream stream(text);
  std::vector<CLI::ConfigItem> items;
  try {
    items = format.from_config(stream);
  } catch (const CLI::Error& e) {
    fail("the options file '" + path + "' is not valid TOML: " + e.what());
  }
  for (const auto& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // CLI11's table open/close markers
    const std::string table = table_name(item.parents);
    if (item.parents.empty())
      fail("options file '" + path + "': '" + item.name +
           "' is outside a table; put a subcommand's options in its table, e.g. [theory]");
    CLI::App* command = table_command(app, item.parents);
    if (command == nullptr) fail("options file '" + path + "': [" + table + "] is not a subcommand of attnpaths");
    CLI::Option* op = key_option(*command, item.name);
    if (op == nullptr || op->get_lnames().empty() || op == command->get_help_ptr())
      fail("options file '" + path + "': unknown key '" + item.name + "' in [" + table + "] (`attnpaths " +
           table_name(item.parents, " ") + " --help` lists the keys: the long option names without --)");
    if (command == &selected) apply(*op, item, format);
  }
}

}  // namespace attnpaths::app
