#include "attnpaths/core/log.hpp"

namespace attnpaths {

void Log::emit(std::FILE* out, const std::string& line) {
  std::fputs(line.c_str(), out);
  std::fputc('\n', out);
  std::fflush(out);
}

double wall_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

Progress::Progress(const Log& log, std::string what, long total, double every)
    : log_(log), what_(std::move(what)), total_(total), every_(every), start_(wall_seconds()) {}

void Progress::update(long done, const std::string& extra) {
  const double now = wall_seconds();
  if (done < total_ && now - last_ < every_) return;
  last_ = now;
  const double elapsed = now - start_;
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
  log_.info("{}: {}/{} ({:.1f}%), {:.3g}/s, elapsed {:.1f} s, ETA {:.1f} s{}{}", what_, done, total_,
            total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0, rate, elapsed,
            eta, extra.empty() ? "" : ", ", extra);
}

}  // namespace attnpaths
