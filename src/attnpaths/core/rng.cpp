#include "attnpaths/core/rng.hpp"

#include <Random123/philox.h>

#include <cmath>

namespace attnpaths {

RandomStream::RandomStream(std::uint64_t seed, RngDomain domain, std::uint64_t index)
    : key_{seed, static_cast<std::uint64_t>(domain)}, index_(index) {}

void RandomStream::refill() {
  r123::Philox4x64 gen;
  r123::Philox4x64::ctr_type ctr = {{index_, state_.block, 0, 0}};
  r123::Philox4x64::key_type key = {{key_[0], key_[1]}};
  auto out = gen(ctr, key);
  for (int i = 0; i < 4; ++i) state_.buffer[i] = out.v[i];
  state_.block += 1;
  state_.used = 0;
}

std::uint64_t RandomStream::bits() {
  if (state_.used >= 4) refill();
  return state_.buffer[state_.used++];
}

double RandomStream::uniform() {
  // 53 random bits, shifted by half an ulp: never exactly 0 or 1.
  return (static_cast<double>(bits() >> 11) + 0.5) * 0x1.0p-53;
}

double RandomStream::normal() {
  if (state_.has_spare) {
    state_.has_spare = 0;
    return state_.spare;
  }
  const double u1 = uniform(), u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double t = 2.0 * M_PI * u2;
  state_.spare = r * std::sin(t);
  state_.has_spare = 1;
  return r * std::cos(t);
}

}  // namespace attnpaths
