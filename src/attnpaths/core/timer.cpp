#include "attnpaths/core/timer.hpp"

#include <petscsys.h>

#include <ctime>
#include <fstream>
#include <map>
#include <string>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/log.hpp"

namespace attnpaths {

double peak_resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) * 1024.0;  // "VmHWM:  123456 kB"
  return 0.0;
}

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

namespace {
// PETSc stages are process-global and may be registered only once per name.
PetscLogStage petsc_stage(const std::string& name) {
  static std::map<std::string, PetscLogStage> registered;
  auto it = registered.find(name);
  if (it != registered.end()) return it->second;
  PetscLogStage s;
  PETSC_CALL(PetscLogStageRegister(name.c_str(), &s));
  registered[name] = s;
  return s;
}
}  // namespace

StageTimers::Scope StageTimers::stage(const std::string& name) {
  std::size_t i = 0;
  while (i < entries_.size() && entries_[i].name != name) ++i;
  if (i == entries_.size()) {
    entries_.push_back({name, 0.0, 0});
    petsc_stages_.push_back(petsc_stage(name));
  }
  return Scope(*this, i);
}

double StageTimers::seconds(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return e.seconds;
  return 0.0;
}

StageTimers::Scope::Scope(StageTimers& owner, std::size_t index)
    : owner_(owner), index_(index), start_(wall_seconds()), cpu_start_(process_cpu_seconds()) {
  PETSC_CALL(PetscLogStagePush(owner_.petsc_stages_[index_]));
}

StageTimers::Scope::~Scope() {
  PetscLogStagePop();
  owner_.entries_[index_].seconds += wall_seconds() - start_;
  owner_.entries_[index_].cpu_seconds += process_cpu_seconds() - cpu_start_;
  owner_.entries_[index_].calls += 1;
}

}  // namespace attnpaths
