// A runtime's cache kept within its bound (store/cache_trim.hpp): trimmed
// once at start and then every 5 s, on a thread of its own.
#pragma once

#include "store/cache_trim.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace stowage::node {

class cache_trimmer {
public:
  cache_trimmer(std::shared_ptr<store::registry_store> s, store::cache_bound b, std::string name);
  ~cache_trimmer();
  cache_trimmer(const cache_trimmer&) = delete;
  cache_trimmer& operator=(const cache_trimmer&) = delete;

private:
  void run();
  std::shared_ptr<store::registry_store> store_;
  store::cache_bound bound_;
  std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_; // last: started once the members above exist
};

} // namespace stowage::node
