#include "attnpaths/core/reduction.hpp"

#include <algorithm>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"

namespace attnpaths {

namespace {


bool power_of_two(int n) { return n > 0 && (n & (n - 1)) == 0; }

// In-place pairwise sum of n (a power of two) vectors of length m stored contiguously: v[0..m) = Σ.
void tree_sum(double* v, int n, int m) {
  for (int stride = 1; stride < n; stride *= 2)
    for (int i = 0; i + stride < n; i += 2 * stride) {
      double* a = v + sz(i) * sz(m);
      const double* b = v + sz(i + stride) * sz(m);
      for (int j = 0; j < m; ++j) a[j] += b[j];
    }
}
}  // namespace

ExampleBlocks::ExampleBlocks(std::int64_t examples, int blocks, const Comm& shard) : shard_(shard), blocks_(blocks) {
  ATTN_REQUIRE(power_of_two(blocks), InputError, "reduction blocks = {} must be a power of two", blocks);
  ATTN_REQUIRE(shard.size() <= blocks, InputError,
               "{} example shards requested but the reduction uses {} blocks: use at most {} shards per chain",
               shard.size(), blocks, blocks);
  const Range mine = block_range(blocks, shard.rank(), shard.size());
  first_block_ = static_cast<int>(mine.begin);
  for (std::int64_t b = mine.begin; b < mine.end; ++b) owned_.push_back(block_range(examples, static_cast<int>(b), blocks));
  local_ = {owned_.front().begin, owned_.back().end};
  subtree_ = power_of_two(shard.size());  // then blocks/K leaves per shard: a complete subtree
}

void ExampleBlocks::reduce(const std::vector<double>& partials, int m, double* out) const {
  const int K = shard_.size();
  if (K == 1) {
    std::vector<double> v(partials);
    tree_sum(v.data(), blocks_, m);
    std::copy_n(v.begin(), m, out);
    return;
  }
  if (subtree_) {
    std::vector<double> local(partials);
    tree_sum(local.data(), local_blocks(), m);
    local.resize(sz(m));
    std::vector<double> all = shard_.allgather_blocks(local);  // [K × m], identical on every shard
    tree_sum(all.data(), K, m);
    std::copy_n(all.begin(), m, out);
    return;
  }
  std::vector<double> all = shard_.allgather_blocks(partials);  // [blocks × m]
  tree_sum(all.data(), blocks_, m);
  std::copy_n(all.begin(), m, out);
}

}  // namespace attnpaths
