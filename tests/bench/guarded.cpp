#include "guarded.hpp"

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "attnpaths/core/error.hpp"

namespace attnpaths::bench {

namespace {
bool wants_help(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") return true;
  return false;
}
}  // namespace

int run_guarded(int argc, char** argv, const char* usage, int (*body)(Runtime&, int, char**)) {
  Runtime runtime(argc, argv);
  if (wants_help(argc, argv)) {
    if (runtime.world().is_root()) std::printf("usage: %s\n", usage);
    return 0;
  }
  try {
    return body(runtime, argc, argv);
  } catch (const Error& e) {
    abort_all(e.what(), e.exit_code());
  } catch (const std::invalid_argument& e) {  // std::stoi / stod of an option's value
    abort_all(std::string("an option's value is not a number (") + e.what() + ")", 2);
  } catch (const std::out_of_range& e) {
    abort_all(std::string("an option's value is out of range (") + e.what() + ")", 2);
  } catch (const std::exception& e) {
    abort_all(e.what(), 1);
  }
}

}  // namespace attnpaths::bench
