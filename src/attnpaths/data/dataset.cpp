#include "attnpaths/data/dataset.hpp"

namespace attnpaths {

std::vector<const ExampleSet*> Dataset::evaluation_sets() const {
  std::vector<const ExampleSet*> sets{&test};
  if (validation) sets.push_back(&*validation);
  for (const auto& o : ood) sets.push_back(&o);
  return sets;
}

}  // namespace attnpaths
