#include "node/cache_trimmer.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

namespace stowage::node {

namespace {

/// How often the cache is checked: a check over the bound reads every
/// manifest; one within it is a single query.
constexpr std::chrono::seconds period{5};

} // namespace

cache_trimmer::cache_trimmer(std::shared_ptr<store::registry_store> s, store::cache_bound b, std::string name)
    : store_(std::move(s)), bound_(b), name_(std::move(name)), thread_([this] { run(); }) {}

cache_trimmer::~cache_trimmer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void cache_trimmer::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    try {
      auto r = store::trim_cache(*store_, bound_);
      for (const auto& img : r.removed)
        spdlog::info("{}: removed {} from the cache (least recently used)", name_, img);
      if (!r.removed.empty())
        spdlog::info("{}: the cache holds {} bytes, {} before (bound {})", name_, r.used_after, r.used_before,
                     bound_.max_bytes);
    } catch (const std::exception& e) {
      spdlog::warn("{}: could not trim the cache: {}", name_, e.what());
    }
    lock.lock();
    cv_.wait_for(lock, period, [this] { return stop_; });
  }
}

} // namespace stowage::node
