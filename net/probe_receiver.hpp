// The receiving end of test packets (POST /stowage/v1/probe?round=R&from=N),
// shared by the runtime gateway and the master's HTTP (third tests). The
// request must carry a valid Stowage-Node signature of a data manager named
// `from`; the body is counted and dropped, and the time from the request
// header to its last body byte becomes transfer_us. The arrival goes to the
// packet_sink; the answer is 204 (401 for a bad signature, 400 for a bad
// query, 413 above max_bytes).
#pragma once

#include "actors/ports.hpp"
#include "config/directory.hpp"
#include "net/http_types.hpp"

#include <cstdint>
#include <memory>
#include <string_view>

namespace stowage::net {

inline constexpr std::string_view probe_path = "/stowage/v1/probe";

struct probe_receiver_options {
  std::uint64_t max_bytes = std::uint64_t{1} << 30;
};

/// Routes one probe request (the caller checked req.path == probe_path).
route_result route_probe(const request& req, const config::directory& dir, const actors::packet_sink& sink,
                         probe_receiver_options opts = {});

} // namespace stowage::net
