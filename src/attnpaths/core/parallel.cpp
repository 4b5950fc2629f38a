#include "attnpaths/core/parallel.hpp"

#include <omp.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "attnpaths/core/runtime.hpp"

namespace attnpaths {

namespace {

// Worker threads created on first use and kept until exit, asleep on a condition variable between
// loops. Thread t of a team of n runs the items k ≡ t (mod n); the caller is thread 0.
class Pool {
 public:
  static Pool& instance() {
    static Pool pool;
    return pool;
  }

  void run(int team, std::int64_t items, const std::function<void(std::int64_t, int)>& body) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (static_cast<int>(workers_.size()) < team - 1) {
      const int id = static_cast<int>(workers_.size()) + 1;
      workers_.emplace_back([this, id] { work(id); });
    }
    job_ = &body;
    items_ = items;
    team_ = team;
    pending_ = team - 1;
    error_ = nullptr;
    ++generation_;
    lock.unlock();
    start_.notify_all();
    share(0);
    lock.lock();
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    start_.notify_all();
    for (auto& w : workers_) w.join();
  }

 private:
  void share(int id) {
    for (std::int64_t k = id; k < items_; k += team_) {
      try {
        (*job_)(k, id);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }

  void work(int id) {
    omp_set_num_threads(1);  // OpenMP code inside a body runs on its thread (one threading layer)
    std::uint64_t seen = 0;
    for (;;) {
      std::unique_lock<std::mutex> lock(mutex_);
      start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (id >= team_) continue;  // not in this loop's team
      lock.unlock();
      share(id);
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex mutex_;
  std::condition_variable start_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(std::int64_t, int)>* job_ = nullptr;
  std::int64_t items_ = 0;
  int team_ = 1, pending_ = 0;
  std::uint64_t generation_ = 0;
  std::exception_ptr error_;
  bool stop_ = false;
};

}  // namespace

int blas_loop_threads(std::int64_t items) {
  return static_cast<int>(
      std::max<std::int64_t>(1, std::min<std::int64_t>(items, std::max(omp_get_max_threads(), blas_threads()))));
}

void blas_parallel_for(std::int64_t items, const std::function<void(std::int64_t, int)>& body) {
  if (items <= 0) return;
  const int team = blas_loop_threads(items);  // before the BLAS is made serial
  const SerialBlas serial;
  if (team == 1) {
    for (std::int64_t k = 0; k < items; ++k) body(k, 0);
    return;
  }
  Pool::instance().run(team, items, body);
}

}  // namespace attnpaths
