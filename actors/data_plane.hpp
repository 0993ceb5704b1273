// The actors' only doors to the data plane (DESIGN: image bytes and test
// packets never go through the master or the middleman). Production versions
// speak HTTP (net/); sim_network.hpp has in-process versions over real stores.
// CAF-free: completion is reported through callbacks that may run on any
// thread; the actors turn them into messages to themselves.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace stowage::actors {

/// Sends test packets from a data manager to a receiver (runtime, or the
/// master for third tests). The receiving side measures the packet and
/// reports `test_packet` {round, node, bytes, transfer_us} to the receiver's
/// actor, which stamps the arrival with its own clock.
class probe_sender {
public:
  virtual ~probe_sender() = default;
  /// Fire and forget: a lost packet simply never arrives. One that cannot
  /// arrive `within` from now (its round is over by then) is given up: not
  /// sent if it has not started, cut if it has.
  virtual void send_test_packet(const std::string& from, const std::string& to, std::uint64_t round,
                                std::uint64_t bytes, std::chrono::microseconds within) = 0;
};

/// One image copy between two nodes' stores.
struct transfer_order {
  std::string from;        // node holding the image
  std::string to;          // node receiving it
  std::string repository;
  std::string digest;      // the manifest (index or image) to copy, with all it references
  std::string tag;         // tag to set on arrival (may be empty)
  std::optional<std::uint64_t> seq; // the tag's sequence number (tags move forward only)
  std::string proof;       // encoded first proof for pushes to a data manager; empty otherwise
  bool blob = false;       // `digest` is one blob of a push ahead of its manifest, not a manifest
  /// Its size, when fetched (to == self), or when sent while it still
  /// arrives in the sender's store (from == self; 0: it is in the store).
  std::uint64_t blob_size = 0;
};

/// How a transfer that failed because its sender lacks what it was to send
/// says so in its error; a pull of one blob that met only such failures
/// found no data manager holding it (the gateway's 404).
inline constexpr std::string_view sender_lacks_it = "not held by the sender";

struct transfer_result {
  bool ok = false;
  std::string error;       // why not, for logs and answers
  int status = 0;          // HTTP-like status of a refusal (401/403 for proofs), 0 otherwise
  std::uint64_t bytes = 0; // bytes that had to move
  /// The sender's copy turned out damaged on disk and was dropped from its
  /// store (registry_store::drop_if_damaged): it holds fewer images now.
  bool dropped_damaged = false;
  /// A blob the other end sent whose bytes did not match its digest (its
  /// copy may be damaged on disk); empty if none.
  std::string mismatched_blob{};
};

/// Copies images: manifest, config and layers, recursively for indexes.
/// Every blob is verified against its digest on arrival.
class image_transfer {
public:
  using done_fn = std::function<void(transfer_result)>;
  virtual ~image_transfer() = default;
  /// Starts the copy; `done` runs exactly once, on any thread.
  virtual void copy(transfer_order order, done_fn done) = 0;
  /// The other end `node` was found dead or hung: copies with it, running or
  /// queued, end (failed) as soon as they can instead of at their timeouts.
  virtual void give_up(const std::string& node) { (void)node; }
};

/// What a data manager's data-plane front door asks before accepting a push:
/// the verdict of its proof_guard (see proof.hpp). Returns the tag and
/// sequence number the proof grants, or the refusal.
struct push_admission {
  bool ok = false;
  int status = 401;
  std::string error;
  std::string tag;
  std::uint64_t seq = 0;
};
using admission_fn = std::function<push_admission(const std::string& encoded_proof,
                                                  const std::string& repository,
                                                  const std::string& from_node)>;

} // namespace stowage::actors
