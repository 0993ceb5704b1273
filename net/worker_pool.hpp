// A few threads draining a queue of jobs: where the blocking HTTP client runs
// for transfers and test packets, so callers (actors) never block. Threads
// start on first use, up to `max_threads`. The destructor stops taking jobs,
// finishes the queued ones and joins. A job that throws is logged and the
// pool goes on: one failed transfer or listing must not end the process.
#pragma once

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace stowage::net {

class worker_pool {
public:
  explicit worker_pool(unsigned max_threads) : max_(max_threads ? max_threads : 1) {}
  ~worker_pool() {
    {
      std::lock_guard lock(mtx_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  /// Queues `job`; false (and the job is dropped) once stopping.
  bool post(std::function<void()> job) {
    {
      std::lock_guard lock(mtx_);
      if (stopping_) return false;
      jobs_.push_back(std::move(job));
      if (jobs_.size() > idle_ && threads_.size() < max_) threads_.emplace_back([this] { run(); });
    }
    cv_.notify_one();
    return true;
  }

private:
  void run() {
    std::unique_lock lock(mtx_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return; // stopping and drained
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      try {
        job();
      } catch (const std::exception& e) {
        spdlog::error("a background job failed: {}", e.what());
      } catch (...) {
        spdlog::error("a background job failed");
      }
      lock.lock();
    }
  }

  const unsigned max_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  unsigned idle_ = 0;
  bool stopping_ = false;
};

} // namespace stowage::net
