// A runtime's cache kept within its bound (store/cache_trim.hpp): trimmed
// once at start and then every `period`, on a thread of its own.
#pragma once

#include "store/cache_trim.hpp"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace stowage::node {

class cache_trimmer {
public:
  cache_trimmer(std::shared_ptr<store::registry_store> s, store::cache_bound b, std::string name,
                std::chrono::milliseconds period = std::chrono::seconds(5));
  ~cache_trimmer();
  cache_trimmer(const cache_trimmer&) = delete;
  cache_trimmer& operator=(const cache_trimmer&) = delete;

private:
  void run();
  std::shared_ptr<store::registry_store> store_;
  store::cache_bound bound_;
  std::string name_;
  std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_; // last: started once the members above exist
};

} // namespace stowage::node
