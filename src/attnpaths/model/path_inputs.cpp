// Attention-path inputs (docs/model.md §1.3): token weights a_π computed backwards through the layers,
//   v^{(L)}_{h_L} = ω^{L,h_L},   v^{(l)}_{(h_l,H)} = Ω^{l,h_l} v^{(l+1)}_H   (l = L-1 .. 1),   a = v^{(1)},
// with the flattened path index row-major, layer-1 head slowest; then x̃_π = Σ_s a_π[s] x_s (unscaled).
#include "attnpaths/model/path_inputs.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "attnpaths/core/error.hpp"
#include "attnpaths/core/index.hpp"
#include "attnpaths/core/linalg.hpp"
#include "attnpaths/core/parallel.hpp"
#include "attnpaths/model/attention.hpp"

namespace attnpaths {

namespace {


// About this many tokens per BLAS-3 call (X [nc·T × N0] · W [N0 × N0]): its products stay in cache
// until the example's scores use them.
constexpr std::int64_t call_tokens = 256;
// About this many tokens per batch, the unit of work of one thread (a whole number of calls).
constexpr std::int64_t batch_tokens = 2048;

// Examples per BLAS call for T tokens: calls start at global multiples of it.
std::int64_t call_examples(int T) { return std::max<std::int64_t>(1, call_tokens / T); }

// Token weights a [H_tot × T] of example `mu` of the block (docs/model.md §1.3, backward recursion).
// `cur` and `next` are workspaces (resized as needed).
void path_weights(const AttentionSpec& att, const BlockAttention& block, std::int64_t mu, int T, double* a,
                  std::vector<double>& cur, std::vector<double>& next) {
  const int L = att.depth();
  const std::size_t t = sz(T);
  int M = att.layers[sz(L - 1)].heads;  // number of partial paths (h_{l+1}, …, h_L)
  cur.resize(sz(M) * t);
  for (int h = 0; h < M; ++h) std::copy_n(block.last[sz(h)].data() + sz(mu) * t, T, cur.data() + sz(h) * t);
  for (int l = L - 2; l >= 0; --l) {
    const int Hl = att.layers[sz(l)].heads;
    next.resize(sz(Hl) * sz(M) * t);
    for (int h = 0; h < Hl; ++h) {
      const double* om = block.full[sz(l)][sz(h)].data() + sz(mu) * t * t;  // Ω^{l,h}[s*T + t]
      for (int m = 0; m < M; ++m) {
        const double* v = cur.data() + sz(m) * t;
        double* out = next.data() + (sz(h) * sz(M) + sz(m)) * t;
        for (int s = 0; s < T; ++s) {
          const double* row = om + sz(s) * t;
          double acc = 0.0;
#pragma omp simd reduction(+ : acc)
          for (int u = 0; u < T; ++u) acc += row[u] * v[u];
          out[s] = acc;
        }
      }
    }
    cur.swap(next);
    M *= Hl;
  }
  std::copy(cur.begin(), cur.end(), a);
}

// x̃_π = Σ_s a_π[s] x_s for every path: xt [H_tot × N0] = a [H_tot × T] · x [T × N0].
void propagate(const double* a, int paths, const double* x, int T, int N0, double* xt) {
  linalg::gemm(false, false, paths, N0, T, 1.0, a, T, x, N0, 0.0, xt, N0);
}

void check_attention(const AttentionSpec& att) {
  ATTN_REQUIRE(att.depth() >= 1, InputError, "path inputs: the attention has no layers (L = 0)");
  for (int l = 0; l < att.depth(); ++l)
    ATTN_REQUIRE(att.layers[sz(l)].heads >= 1, InputError, "path inputs: layer {} has {} heads", l + 1,
                 att.layers[sz(l)].heads);
}

}  // namespace

void path_token_weights(const AttentionSpec& attention, const double* x, int T, int N0, double* a) {
  check_attention(attention);
  BlockAttention block;
  block.compute(attention, x, 1, T, N0);
  std::vector<double> cur, next;
  path_weights(attention, block, 0, T, a, cur, next);
}

std::int64_t path_input_batch(int T) {
  return std::max<std::int64_t>(1, batch_tokens / T / call_examples(T)) * call_examples(T);
}

PathInputs compute_path_inputs(const ExampleSet& set, const AttentionSpec& attention, int T, int N0) {
  PathInputs out;
  out.set_name = set.name;
  out.count = set.count;
  out.local = set.local;
  out.paths = attention.paths();
  out.dim = N0;
  out.y = set.y;
  out.xt.resize(sz(set.local.size()) * sz(out.paths) * sz(N0));
  PathInputWorkspace work;
  compute_path_inputs(set, attention, T, N0, work, out.xt.data());
  return out;
}

namespace {

// x̃ of the local rows of batch [g0, g0 + nb) of `set` into xt (rows of the whole set). The attention
// is computed in calls of nc = call_examples(T) examples starting at global multiples of nc, each
// always as BLAS calls of nc·T rows (rows of other shards, or past the end, are zero): BLAS rounds
// differently at the edges of a call, so every example sits at the same position of a call of the
// same size whatever the rank count, block size and thread count, and x̃ is bitwise independent of
// them (docs/sampling.md). Calls with no local row are skipped.
void compute_batch(const ExampleSet& set, const AttentionSpec& attention, int T, int N0, std::int64_t g0,
                   std::int64_t nb, BatchWorkspace& work, double* xt) {
  const int paths = attention.paths();
  const std::size_t per_example = sz(T) * sz(N0), per_path_row = sz(paths) * sz(N0);
  const std::int64_t nc = call_examples(T);
  const std::int64_t lo = std::max(g0, set.local.begin), hi = std::min(g0 + nb, set.local.end);
  work.a.resize(sz(paths) * sz(T));
  for (std::int64_t c0 = lo / nc * nc; c0 < hi; c0 += nc) {
    const std::int64_t clo = std::max(c0, lo), chi = std::min(c0 + nc, hi);
    const double* first = set.x.data() + sz(clo - set.local.begin) * per_example;
    const double* xc = first;            // a call of local rows only is read in place,
    if (clo != c0 || chi != c0 + nc) {  // else padded with zero rows
      work.xb.resize(sz(nc) * per_example);
      std::fill_n(work.xb.begin(), sz(clo - c0) * per_example, 0.0);
      std::copy_n(first, sz(chi - clo) * per_example,
                  work.xb.begin() + static_cast<std::ptrdiff_t>(sz(clo - c0) * per_example));
      std::fill(work.xb.begin() + static_cast<std::ptrdiff_t>(sz(chi - c0) * per_example), work.xb.end(), 0.0);
      xc = work.xb.data();
    }
    work.block.compute(attention, xc, nc, T, N0);
    for (std::int64_t mu = clo - c0; mu < chi - c0; ++mu) {
      path_weights(attention, work.block, mu, T, work.a.data(), work.cur, work.next);
      propagate(work.a.data(), paths, xc + sz(mu) * per_example, T, N0,
                xt + sz(c0 + mu - set.local.begin) * per_path_row);
    }
  }
}

}  // namespace

void compute_path_inputs(const ExampleSet& set, const AttentionSpec& attention, int T, int N0,
                         PathInputWorkspace& work, double* xt) {
  check_attention(attention);
  const std::int64_t n = set.local.size();
  ATTN_REQUIRE(set.x.size() == sz(n) * sz(T) * sz(N0) && set.y.size() == sz(n), InputError,
               "path inputs: example set '{}' holds {} x values and {} targets for {} local examples of {} tokens × {} "
               "features",
               set.name, set.x.size(), set.y.size(), n, T, N0);
  if (n == 0) return;
  // The batches on the threads of core/parallel.hpp, each batch's BLAS calls on its own thread.
  const std::int64_t nb = path_input_batch(T), first = set.local.begin / nb, last = (set.local.end + nb - 1) / nb;
  const int threads = blas_loop_threads(last - first);
  if (work.threads.size() < sz(threads)) work.threads.resize(sz(threads));
  blas_parallel_for(last - first, [&](std::int64_t k, int thread) {
    compute_batch(set, attention, T, N0, (first + k) * nb, nb, work.threads[sz(thread)], xt);
  });
}

}  // namespace attnpaths
