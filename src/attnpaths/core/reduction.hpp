// Canonical reduction over the examples of a data-parallel computation, bitwise independent of the
// number of shards (used by the sampler's likelihood and by training's gradient).
#pragma once

#include <cstdint>
#include <vector>

#include "attnpaths/core/comm.hpp"

namespace attnpaths {

// Canonical reduction over `examples` examples, bitwise independent of the
// number of shards K (ranks of `shard`): the examples are cut into `blocks` fixed blocks (block_range), partial sums are
// formed per block in example order, and blocks are added along a fixed binary tree. Shard k owns the
// blocks block_range(blocks, k, K). With K a power of two dividing `blocks`, each shard reduces its
// subtree and only K partials are exchanged; otherwise every block partial is gathered.
class ExampleBlocks {
 public:
  ExampleBlocks(std::int64_t examples, int blocks, const Comm& shard);
  Range local() const { return local_; }           // examples owned by this shard
  int local_blocks() const { return static_cast<int>(owned_.size()); }
  Range block(int i) const { return owned_[static_cast<std::size_t>(i)]; }  // i-th owned block (global rows)
  // partials [local_blocks × m] → out [m] = tree sum over all blocks (identical on every shard).
  void reduce(const std::vector<double>& partials, int m, double* out) const;

 private:
  const Comm& shard_;
  int blocks_;
  int first_block_ = 0;
  std::vector<Range> owned_;
  Range local_;
  bool subtree_ = false;
};

}  // namespace attnpaths
