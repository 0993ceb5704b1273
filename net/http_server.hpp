// The HTTP/1.1 server every HTTP surface runs on (OCI API, gateway, admin).
// Beast lives only in http_server.cpp; callers see this header and
// http_types.hpp. It runs on its own io_context with N threads, keeps
// connections alive, answers pipelined requests in order, streams request
// bodies into the handler chunk by chunk (honouring Expect: 100-continue and
// chunked transfer-encoding) and streams file responses from disk.
#pragma once

#include "net/http_types.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace stowage::net {

struct http_server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;       // 0: pick a free one (see http_server::port())
  unsigned threads = 2;
  std::string name = "http";    // for logs
  std::chrono::seconds idle_timeout{120};  // keep-alive wait for the next request
  std::chrono::seconds io_timeout{300};    // longest silence inside a request or response
};

class http_server {
public:
  http_server(http_handler& handler, http_server_options opts);
  ~http_server(); // stop()
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds and starts the threads; throws std::runtime_error if it cannot bind.
  void start();
  /// The bound port (after start()).
  std::uint16_t port() const;
  /// Stops accepting, closes idle connections, lets requests in flight finish
  /// for up to `grace`, then stops the threads. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace stowage::net
