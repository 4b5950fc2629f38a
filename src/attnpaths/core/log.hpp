// Rank-0 progress output. Only rank 0 of the given communicator prints; warnings go
// to stderr. Output is flushed at every line so that SLURM logs are current.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "attnpaths/core/comm.hpp"

namespace attnpaths {

class Log {
 public:
  explicit Log(const Comm& comm, bool quiet = false) : root_(comm.is_root()), quiet_(quiet) {}
  template <class... A>
  void info(fmt::format_string<A...> f, A&&... a) const {
    if (root_ && !quiet_) emit(stdout, fmt::format(f, std::forward<A>(a)...));
  }
  template <class... A>
  void warn(fmt::format_string<A...> f, A&&... a) const {
    if (root_) emit(stderr, "warning: " + fmt::format(f, std::forward<A>(a)...));
  }
  bool printing() const { return root_ && !quiet_; }

 private:
  static void emit(std::FILE* out, const std::string& line);
  bool root_, quiet_;
};

// Wall-clock seconds since an arbitrary origin (monotonic).
double wall_seconds();

// Progress of a loop with a known number of steps: rate and ETA, at most one line every `every` s.
class Progress {
 public:
  Progress(const Log& log, std::string what, long total, double every = 2.0);
  // Reports `done` steps; `extra` is appended to the line. Prints if enough time passed or done==total.
  void update(long done, const std::string& extra = "");

 private:
  const Log& log_;
  std::string what_;
  long total_;
  double every_, start_, last_ = -1e300;
};

}  // namespace attnpaths
