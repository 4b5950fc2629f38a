#include "attnpaths/data/dataset.hpp"

#include <fmt/format.h>

#include "attnpaths/core/error.hpp"

namespace attnpaths {

std::string to_string(AttentionStyle s) { return s == AttentionStyle::w ? "w" : "qk"; }
std::string to_string(Nonlinearity n) { return n == Nonlinearity::softmax ? "softmax" : "hardmax"; }
std::string to_string(Readout r) {
  switch (r) {
    case Readout::last_token: return "last_token";
    case Readout::first_token: return "first_token";
    case Readout::mean: return "mean";
  }
  return "?";
}

AttentionStyle parse_attention_style(const std::string& s, const std::string& where) {
  if (s == "w") return AttentionStyle::w;
  if (s == "qk") return AttentionStyle::qk;
  throw InputError(fmt::format("{}: unknown attention style '{}' (expected \"w\" or \"qk\")", where, s));
}

Nonlinearity parse_nonlinearity(const std::string& s, const std::string& where) {
  if (s == "softmax") return Nonlinearity::softmax;
  if (s == "hardmax") return Nonlinearity::hardmax;
  throw InputError(fmt::format("{}: unknown nonlinearity '{}' (expected \"softmax\" or \"hardmax\")", where, s));
}

Readout parse_readout(const std::string& s, const std::string& where) {
  if (s == "last_token") return Readout::last_token;
  if (s == "first_token") return Readout::first_token;
  if (s == "mean") return Readout::mean;
  throw InputError(
      fmt::format("{}: unknown readout '{}' (expected \"last_token\", \"first_token\" or \"mean\")", where, s));
}

std::vector<int> AttentionSpec::heads() const {
  std::vector<int> h;
  for (const auto& l : layers) h.push_back(l.heads);
  return h;
}

int AttentionSpec::paths() const {
  int n = 1;
  for (const auto& l : layers) n *= l.heads;
  return n;
}

int AttentionSpec::head_on_path(int pi, int layer) const {
  // pi = ((h1*H2 + h2)*H3 + h3)... : peel off the fastest (last-layer) digits.
  for (int l = depth() - 1; l > layer; --l) pi /= layers[static_cast<size_t>(l)].heads;
  return pi % layers[static_cast<size_t>(layer)].heads;
}

std::vector<std::string> AttentionSpec::default_path_labels() const {
  std::vector<std::string> labels;
  for (int pi = 0; pi < paths(); ++pi) {
    std::string s;
    for (int l = 0; l < depth(); ++l) s += (l ? "." : "") + std::to_string(head_on_path(pi, l));
    labels.push_back(s);
  }
  return labels;
}

std::vector<const ExampleSet*> Dataset::evaluation_sets() const {
  std::vector<const ExampleSet*> sets{&test};
  if (validation) sets.push_back(&*validation);
  for (const auto& o : ood) sets.push_back(&o);
  return sets;
}

}  // namespace attnpaths
