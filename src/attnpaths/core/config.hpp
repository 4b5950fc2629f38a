// The record of every resolved option of a run (defaults included), echoed on rank 0 at start-up
// and written as attributes of /config in every output file.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "attnpaths/core/log.hpp"

namespace attnpaths {

using ConfigValue = std::variant<std::int64_t, double, std::string, std::vector<std::int64_t>, std::vector<double>,
                                 std::vector<std::string>>;

class Config {
 public:
  void set(const std::string& key, ConfigValue value);
  void set(const std::string& key, double value) { set(key, ConfigValue(value)); }
  void set(const std::string& key, const std::string& value) { set(key, ConfigValue(value)); }
  void set(const std::string& key, std::int64_t value) { set(key, ConfigValue(value)); }
  void set(const std::string& key, const std::vector<double>& value) { set(key, ConfigValue(value)); }
  void set(const std::string& key, const std::vector<std::string>& value) { set(key, ConfigValue(value)); }
  void set(const std::string& key, int value) { set(key, ConfigValue(std::int64_t{value})); }
  void set(const std::string& key, bool value) { set(key, ConfigValue(std::int64_t{value ? 1 : 0})); }
  void set(const std::string& key, const char* value) { set(key, ConfigValue(std::string(value))); }
  void set(const std::string& key, const std::vector<int>& value);
  // Appends every entry of `other`, with `prefix` prepended to its keys.
  void merge(const Config& other, const std::string& prefix = "");

  const std::vector<std::pair<std::string, ConfigValue>>& entries() const { return entries_; }
  const ConfigValue* find(const std::string& key) const;
  static std::string to_string(const ConfigValue& v);
  // Prints "  key = value" for every entry on rank 0.
  void echo(const Log& log, const std::string& title) const;

 private:
  std::vector<std::pair<std::string, ConfigValue>> entries_;
};

// Where and when a result was made: version, git commit, library versions, ranks, host, times.
struct Provenance {
  std::string version, git_commit, petsc_version, hdf5_version, mpi_version, host, command_line;
  int ranks = 1;
  int omp_threads = 1;
  std::string openblas_coretype, openblas_num_threads;
  std::string start_time, end_time;  // ISO 8601, local time
  double start_wall = 0, wall_seconds = 0;
  double mpi_start_seconds = 0;  // this process's MPI_Init and PETSc initialisation (Runtime::start)

  // Collects everything but the end time (call on every rank; the values are rank 0's).
  static Provenance collect(const Comm& comm, const std::vector<std::string>& args);
  // Sets end_time and wall_seconds.
  void finish();
};

std::string iso_time_now();

}  // namespace attnpaths
