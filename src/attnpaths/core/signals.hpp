// Stop signals of long runs (docs/files.md, exit code 75): SIGTERM / SIGUSR1 set a flag that the run
// polls between steps; it then writes a checkpoint and throws Interrupted. Used by `sample` and `train`.
#pragma once

#include <csignal>

namespace attnpaths {

// RAII: installs the SIGTERM / SIGUSR1 handler (and clears the flag); restores the previous handlers.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_term_ {}, old_usr1_ {};
};

// Set by the handler (or by request_stop(), for tests and --interrupt-after).
bool stop_requested();
void request_stop();

}  // namespace attnpaths
