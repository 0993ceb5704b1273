// Reading a streamed response body (net::body_source) piece by piece in
// tests, without a socket.
#pragma once

#include "net/http_types.hpp"

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace stowage::test {

/// Asks `src` for its next piece without waiting: the bytes, or nullopt if
/// the source cut the body.
inline std::future<std::optional<std::string>> ask_piece(net::body_source& src) {
  auto answer = std::make_shared<std::promise<std::optional<std::string>>>();
  auto f = answer->get_future();
  src.next([answer](bool ok, std::string_view p) {
    answer->set_value(ok ? std::optional<std::string>(std::string(p)) : std::nullopt);
  });
  return f;
}

/// The next piece, which must come within a second.
inline std::optional<std::string> next_piece(net::body_source& src) {
  auto f = ask_piece(src);
  if (f.wait_for(std::chrono::seconds(1)) != std::future_status::ready) throw std::runtime_error("no piece yet");
  return f.get();
}

/// Whether the piece asked for has not come within 20 ms.
inline bool waiting(std::future<std::optional<std::string>>& f) {
  return f.wait_for(std::chrono::milliseconds(20)) == std::future_status::timeout;
}

} // namespace stowage::test
