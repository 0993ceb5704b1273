#include "net/http_probe_sender.hpp"

#include "config/node_auth.hpp"
#include "net/http_types.hpp"
#include "net/registry_client.hpp"
#include "net/worker_pool.hpp"

#include <spdlog/spdlog.h>

#include <mutex>

namespace stowage::net {

struct http_probe_sender::impl {
  std::string self;
  std::shared_ptr<const config::directory> dir;
  config::identity id;
  std::mutex mtx;
  std::string noise; // random bytes, grown on demand; packets are prefixes of it
  worker_pool pool;

  impl(std::string s, std::shared_ptr<const config::directory> d, config::identity i, http_probe_options o)
      : self(std::move(s)), dir(std::move(d)), id(std::move(i)), pool(o.threads) {}

  std::string payload(std::uint64_t bytes) {
    std::lock_guard lock(mtx);
    if (noise.size() < bytes) {
      auto more = config::noise_bytes(bytes - noise.size());
      noise.append(reinterpret_cast<const char*>(more.data()), more.size());
    }
    return noise.substr(0, bytes);
  }

  void send(const std::string& to, std::uint64_t round, std::uint64_t bytes,
            std::chrono::steady_clock::time_point due) {
    if (std::chrono::steady_clock::now() >= due) {
      // Queued behind packets to slow links until its round was over: sent
      // now, it would only slow the next round's packets on the same link.
      spdlog::debug("{}: test packet {} to {} not sent: its round is over", self, round, to);
      return;
    }
    auto ep = dir->http_of(to);
    if (!ep) {
      spdlog::warn("{}: test packet for unknown node {} dropped", self, to);
      return;
    }
    try {
      registry_client c(*ep);
      c.set_deadline(due);
      c.set_authorizer([this](std::string_view method, std::string_view target) {
        return config::node_authorization(id, self, method, target, config::unix_time_ms());
      });
      const std::string target = "/stowage/v1/probe?round=" + std::to_string(round) + "&from=" + percent_encode(self);
      int status = c.post(target, payload(bytes));
      if (status / 100 != 2)
        spdlog::warn("{}: test packet {} to {} refused with HTTP {}", self, round, to, status);
    } catch (const std::exception& e) {
      spdlog::debug("{}: test packet {} to {} lost: {}", self, round, to, e.what());
    }
  }
};

http_probe_sender::http_probe_sender(std::string self, std::shared_ptr<const config::directory> dir,
                                     config::identity id, http_probe_options opts)
    : impl_(std::make_unique<impl>(std::move(self), std::move(dir), std::move(id), opts)) {}

http_probe_sender::~http_probe_sender() = default;

void http_probe_sender::send_test_packet(const std::string& from, const std::string& to, std::uint64_t round,
                                         std::uint64_t bytes, std::chrono::microseconds within) {
  if (from != impl_->self) {
    spdlog::warn("{}: refusing to send a test packet as {}", impl_->self, from);
    return;
  }
  const auto due = std::chrono::steady_clock::now() + within;
  impl_->pool.post([this, to, round, bytes, due] { impl_->send(to, round, bytes, due); });
}

} // namespace stowage::net
