// The real `attnpaths sample` command (itself under mpirun from this 1-rank test): draws identical for
// K = 1, 2, 4 example shards; an interrupted-and-resumed run equals an uninterrupted one bit for bit;
// a mismatched or corrupt checkpoint is refused; SIGTERM through a real signal → exit 75, resumable.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "attnpaths/io/hdf5.hpp"
#include "test_support.hpp"

using namespace attnpaths;
namespace fs = std::filesystem;

namespace {

int attnpaths_cmd(int ranks, const std::string& args, std::string* output = nullptr, const std::string& prefix = "") {
  return test::run_attnpaths(ranks, args, output, prefix);
}

const std::string& dataset() {
  static const std::string path = [] {
    const std::string dir = test::scratch_dir("sample_command_data");
    const std::string p = dir + "/tiny.h5";
    EXPECT_EQ(attnpaths_cmd(1, "data markov --heads 4paths -P 16 -Q 8 -T 6 --feature-dim 8 -o " + p), 0);
    return p;
  }();
  return path;
}

std::string base_args(const std::string& target, const std::string& temperature = "0.1") {
  return "sample --data " + dataset() + " --width 3 --temperature " + temperature +
         " --chains 2 --draws 24 --warmup 30 --seed 5 "
         "--checkpoint-every 7 --quiet --target " + target;
}

const std::vector<std::string>& compared_datasets() {
  static const std::vector<std::string> names = {
      "samples/U1", "samples/f_test", "samples/stats/step_size", "samples/stats/energy", "samples/stats/accept_stat",
      "samples/stats/log_density", "sampled/U1/mean", "sampled/U1/mcse", "sampled/predictor/mean",
      "sampled/predictor/var", "sampled/predictor/accuracy", "diagnostics/U1/rhat", "diagnostics/U1/ess_bulk",
      "diagnostics/predictor/rhat", "diagnostics/chains/ebfmi", "diagnostics/chains/accept_rate"};
  return names;
}

std::vector<double> read(const std::string& file, const std::string& name) {
  h5::File f(file, test::world(), h5::File::Mode::read);
  return f.dataset(name).read_all<double>();
}

void expect_identical(const std::string& a, const std::string& b) {
  for (const auto& name : compared_datasets()) {
    const auto x = read(a, name), y = read(b, name);
    ASSERT_EQ(x.size(), y.size()) << name;
    ASSERT_FALSE(x.empty()) << name;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!(std::isnan(x[i]) && std::isnan(y[i]))) {
        ASSERT_EQ(x[i], y[i]) << name << "[" << i << "] " << a << " vs " << b;
      }
  }
  for (const char* name : {"samples/stats/tree_depth", "samples/stats/n_leapfrog", "diagnostics/chains/gradient_evaluations"}) {
    h5::File fa(a, test::world(), h5::File::Mode::read), fb(b, test::world(), h5::File::Mode::read);
    EXPECT_EQ(fa.dataset(name).read_all<std::int64_t>(), fb.dataset(name).read_all<std::int64_t>()) << name;
  }
}

}  // namespace

TEST(SampleCommand, DrawsIdenticalForAnyShardCount) {
  const std::string dir = test::scratch_dir("sample_shards");
  for (int K : {1, 2, 4}) {
    const std::string out = dir + "/K" + std::to_string(K) + ".h5";
    // Temp 0.5: at 0.1 this tiny width-3 posterior is so stiff that a chain may diverge at every draw
    // (an error since the sampler checks for it); the test is about bitwise identity, not stiffness.
    ASSERT_EQ(attnpaths_cmd(2 * K, base_args("joint", "0.5") + " --shards " + std::to_string(K) + " -o " + out), 0)
        << "K = " << K;
  }
  expect_identical(dir + "/K1.h5", dir + "/K2.h5");
  expect_identical(dir + "/K1.h5", dir + "/K4.h5");
  // Wrong rank count: a clear error.
  std::string out;
  EXPECT_EQ(attnpaths_cmd(3, base_args("joint") + " --shards 2 -o " + dir + "/bad.h5", &out), 3);
  EXPECT_NE(out.find("--chains 2 × --shards 2 = 4"), std::string::npos) << out;
}

TEST(SampleCommand, InterruptedAndResumedEqualsUninterrupted) {
  const std::string dir = test::scratch_dir("sample_resume");
  // The dense metric's n×n state (metric, Welford estimator) is checkpointed too.
  for (const auto& [name, args] : std::vector<std::pair<std::string, std::string>>{
           {"v0-marginal_dense", base_args("v0-marginal") + " --metric dense"},
           {"path-weights_diag", base_args("path-weights") + " --metric diag"}}) {
    const std::string ref = dir + "/ref_" + name + ".h5", out = dir + "/run_" + name + ".h5";
    ASSERT_EQ(attnpaths_cmd(2, args + " -o " + ref), 0);
    // Stop during warm-up, again during sampling, then finish.
    ASSERT_EQ(attnpaths_cmd(2, args + " --interrupt-after 11 -o " + out), 75);
    EXPECT_FALSE(fs::exists(out));
    EXPECT_TRUE(fs::exists(out + ".partial"));
    ASSERT_EQ(attnpaths_cmd(2, args + " --resume --interrupt-after 29 -o " + out), 75);
    ASSERT_EQ(attnpaths_cmd(2, args + " --resume -o " + out), 0);
    EXPECT_TRUE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out + ".partial"));
    expect_identical(ref, out);
  }
}

TEST(SampleCommand, RefusesMismatchedOrCorruptCheckpoint) {
  const std::string dir = test::scratch_dir("sample_refuse");
  const std::string out = dir + "/run.h5";
  ASSERT_EQ(attnpaths_cmd(2, base_args("joint") + " --interrupt-after 12 -o " + out), 75);
  std::string msg;
  EXPECT_EQ(attnpaths_cmd(2, base_args("joint", "0.2") + " --resume -o " + out, &msg), 3);
  EXPECT_NE(msg.find("different options"), std::string::npos) << msg;
  EXPECT_NE(msg.find("temperature"), std::string::npos) << msg;
  EXPECT_TRUE(fs::exists(out + ".partial"));  // left untouched
  {
    h5::File f(out + ".partial", test::world(), h5::File::Mode::read_write);
    const int slot = static_cast<int>(f.group("checkpoint").attr_int("slot"));
    auto pos = f.dataset("checkpoint/slot_" + std::to_string(slot) + "/position");
    auto v = pos.read_slab<double>({1, 0}, {1, 1});
    v[0] += 1e-9;
    pos.write_slab<double>({1, 0}, {1, 1}, v.data());
  }
  EXPECT_EQ(attnpaths_cmd(2, base_args("joint") + " --resume -o " + out, &msg), 3);
  EXPECT_NE(msg.find("corrupt"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(out));
}

TEST(SampleCommand, SigtermCheckpointsExits75AndResumes) {
  const std::string dir = test::scratch_dir("sample_sigterm");
  const std::string args = "sample --data " + dataset() +
                           " --width 4 --temperature 0.05 --chains 1 --draws 1500 --warmup 300 --seed 9 "
                           "--checkpoint-every 25 --quiet --target joint";
  const std::string ref = dir + "/ref.h5", out = dir + "/run.h5";
  ASSERT_EQ(attnpaths_cmd(1, args + " -o " + ref), 0);
  // Start the binary itself (a singleton MPI process) and send it a real SIGTERM mid-run.
  const std::string cmd = test::child_env() + test::attnpaths_binary() + " " + args + " -o " + out;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " > /dev/null 2>&1").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 600 && !fs::exists(out + ".partial"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 75);
  EXPECT_FALSE(fs::exists(out));
  ASSERT_TRUE(fs::exists(out + ".partial"));
  {
    h5::File f(out + ".partial", test::world(), h5::File::Mode::read);
    const auto it = f.group("checkpoint").attr_ints("iterations");
    EXPECT_GT(it[0], 0);
    EXPECT_LT(it[0], 1800);  // really interrupted mid-run
  }
  ASSERT_EQ(attnpaths_cmd(1, args + " --resume -o " + out), 0);
  expect_identical(ref, out);
}
