// actors::probe_sender over HTTP (DESIGN §3 steps 2-4): a test packet is
//   POST http://<receiver http>/stowage/v1/probe?round=R&from=<node>
// with N random bytes and a Stowage-Node signature of the sending node, on
// a fresh TCP connection each time, so the packet measures the same path the
// image data will take (not a warm socket). Fire and forget: packets go out
// from worker threads of this object; a packet that cannot be delivered is
// simply lost (the round's deadline handles it) and logged at debug level.
// A packet lives until its round's deadline at most: one still queued then
// is not sent, one on its way is cut, so a slow link is free for the next
// round's packet.
#pragma once

#include "actors/data_plane.hpp"
#include "config/directory.hpp"
#include "config/identity.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace stowage::net {

struct http_probe_options {
  unsigned threads = 4; // packets in flight at once (each bounded by its round's deadline)
};

class http_probe_sender final : public actors::probe_sender {
public:
  /// `self`'s signature goes on every packet; `dir` maps receivers to endpoints.
  http_probe_sender(std::string self, std::shared_ptr<const config::directory> dir, config::identity id,
                    http_probe_options opts = {});
  ~http_probe_sender() override; // waits for packets in flight (each bounded by its round)

  /// `from` must be this node's name (it is what the signature proves).
  void send_test_packet(const std::string& from, const std::string& to, std::uint64_t round, std::uint64_t bytes,
                        std::chrono::microseconds within) override;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace stowage::net
