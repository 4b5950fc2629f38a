// Per-stage timers: each named stage is also a PETSc log stage, so `-log_view` shows
// the same breakdown with flops; the wall-clock table is written into /provenance.
#pragma once

#include <string>
#include <vector>

namespace attnpaths {

// This process's peak resident memory in bytes (VmHWM of /proc/self/status; 0 where unavailable).
double peak_resident_bytes();
// CPU seconds used so far by this process, all threads (CLOCK_PROCESS_CPUTIME_ID).
double process_cpu_seconds();

class StageTimers {
 public:
  struct Entry {
    std::string name;
    double seconds = 0;      // wall clock
    double cpu_seconds = 0;  // this process's CPU time (all its threads): work done, whatever the load
    long calls = 0;
  };

  // RAII: pushes the PETSc stage and starts the clock; pops and accumulates on destruction.
  class Scope {
   public:
    Scope(StageTimers& owner, std::size_t index);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    StageTimers& owner_;
    std::size_t index_;
    double start_, cpu_start_;
  };

  Scope stage(const std::string& name);
  const std::vector<Entry>& table() const { return entries_; }
  // Seconds spent so far in `name` (0 if never entered).
  double seconds(const std::string& name) const;

 private:
  std::vector<Entry> entries_;
  std::vector<int> petsc_stages_;
};

}  // namespace attnpaths
