#include "attnpaths/core/config.hpp"

#include <fmt/ranges.h>
#include <hdf5.h>
#include <omp.h>
#include <petscsys.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>

#include "attnpaths/core/log.hpp"
#include "attnpaths/core/runtime.hpp"
#include "attnpaths_version.hpp"

namespace attnpaths {

void Config::set(const std::string& key, ConfigValue value) {
  for (auto& e : entries_)
    if (e.first == key) {
      e.second = std::move(value);
      return;
    }
  entries_.emplace_back(key, std::move(value));
}

void Config::set(const std::string& key, const std::vector<int>& value) {
  set(key, ConfigValue(std::vector<std::int64_t>(value.begin(), value.end())));
}

void Config::merge(const Config& other, const std::string& prefix) {
  for (const auto& e : other.entries_) set(prefix + e.first, e.second);
}

const ConfigValue* Config::find(const std::string& key) const {
  for (const auto& e : entries_)
    if (e.first == key) return &e.second;
  return nullptr;
}

std::string Config::to_string(const ConfigValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, std::string>)
          return x;
        else if constexpr (std::is_same_v<X, std::vector<std::string>>)
          return fmt::format("{}", fmt::join(x, ","));
        else if constexpr (std::is_same_v<X, std::vector<double>> || std::is_same_v<X, std::vector<std::int64_t>>)
          return fmt::format("{}", fmt::join(x, ","));
        else
          return fmt::format("{}", x);
      },
      v);
}

void Config::echo(const Log& log, const std::string& title) const {
  log.info("{}", title);
  for (const auto& e : entries_) log.info("  {:<28} = {}", e.first, to_string(e.second));
}

std::string iso_time_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return buf;
}

Provenance Provenance::collect(const Comm& comm, const std::vector<std::string>& args) {
  Provenance p;
  p.version = ATTNPATHS_VERSION;
  p.git_commit = ATTNPATHS_GIT_COMMIT;
  char buf[256];
  PetscGetVersion(buf, sizeof buf);
  p.petsc_version = buf;
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  p.hdf5_version = fmt::format("{}.{}.{}", maj, min, rel);
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(mpi, &len);
  p.mpi_version = std::string(mpi, static_cast<size_t>(len));
  while (!p.mpi_version.empty() && (p.mpi_version.back() == '\n' || p.mpi_version.back() == '\0'))
    p.mpi_version.pop_back();
  gethostname(buf, sizeof buf);
  buf[sizeof buf - 1] = '\0';
  p.host = buf;
  p.command_line = fmt::format("{}", fmt::join(args, " "));
  p.ranks = comm.size();
  p.omp_threads = omp_get_max_threads();
  const char* ct = std::getenv("OPENBLAS_CORETYPE");
  p.openblas_coretype = ct ? ct : "";
  const char* nt = std::getenv("OPENBLAS_NUM_THREADS");
  p.openblas_num_threads = nt ? nt : "";
  p.start_time = iso_time_now();
  p.start_wall = attnpaths::wall_seconds();
  p.mpi_start_seconds = attnpaths::mpi_start_seconds();
  comm.bcast(p.host);
  comm.bcast(p.start_time);
  comm.bcast(&p.mpi_start_seconds, 1);
  return p;
}

void Provenance::finish() {
  end_time = iso_time_now();
  wall_seconds = attnpaths::wall_seconds() - start_wall;
}

}  // namespace attnpaths
