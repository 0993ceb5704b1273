// CAF-free doors from the HTTP side (net/) into the actors. The HTTP layer
// never includes CAF: it holds these small interfaces, and actors/ports.cpp
// implements them with short-lived event-based actors doing
// request(...).then(...).
//
// Threading: every callback runs exactly once, on a CAF worker thread (or on
// the caller's thread if the actor system is shutting down). Keep callbacks
// short; the net/ responders may be called from any thread, so answering an
// HTTP request straight from a callback is fine.
#pragma once

#include "actors/records.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace caf {
class actor_system;
class actor;
} // namespace caf

namespace stowage::actors {

// ---- runtime ------------------------------------------------------------------

struct runtime_pull_result {
  bool ok = false;
  bool not_found = false; // the cluster does not know repository:reference (HTTP 404)
  std::string error;
  std::string digest;     // the manifest now in the runtime's store (when ok)
  std::string target;     // the data manager that served it
};

struct runtime_push_result {
  bool ok = false;        // the image is durable on >= min_copies places
  std::string error;
  std::string target;     // the second target data manager
  std::uint32_t copies = 0;
};

struct runtime_delete_result {
  bool ok = false;
  bool not_found = false; // the cluster does not know repository:reference (HTTP 404)
  std::string error;
  std::string digest;     // the manifest the reference named
  std::vector<std::string> tags; // the tags deleted
};

struct runtime_tags_result {
  bool ok = false;        // the master answered
  bool known = false;     // the cluster holds something of the repository
  std::string error;
  std::vector<std::string> tags; // sorted
};

/// The master's plan for a pull in flight: `target` is about to send manifest
/// `digest` (a retry after a failed target brings another plan).
struct runtime_pull_plan {
  std::uint64_t decision = 0;
  std::string digest;
  std::string target;
};

/// Wraps pull_image / push_image of runtime.hpp.
class runtime_port {
public:
  using pull_fn = std::function<void(runtime_pull_result)>;
  using plan_fn = std::function<void(runtime_pull_plan)>;
  using push_fn = std::function<void(runtime_push_result)>;
  using delete_fn = std::function<void(runtime_delete_result)>;
  using tags_fn = std::function<void(runtime_tags_result)>;
  /// Sorted repository names; nullopt with the reason if the master did not answer.
  using repositories_fn = std::function<void(std::optional<std::vector<std::string>>, std::string)>;
  virtual ~runtime_port() = default;
  /// Pulls repository:reference (tag or digest) through the cluster into the
  /// runtime's store (the scheduling flow of DESIGN §3). `on_plan`, if set,
  /// runs (before `done`) each time the master has chosen a target.
  virtual void pull(std::string repository, std::string reference, pull_fn done, plan_fn on_plan = {}) = 0;
  /// Pulls one blob of `repository` through the cluster into the runtime's
  /// store (a client asks for a blob the cache lacks without asking for a
  /// manifest that names it first: a download resumed after the cache was
  /// emptied, a tool that fetches blobs by digest). The same scheduling
  /// flow, over the data managers holding any image of the repository.
  /// `not_found`: none does.
  virtual void pull_blob(std::string repository, std::string digest, pull_fn done) = 0;
  /// Pushes an image already in the runtime's store into the cluster; `done`
  /// says ok only once the push guarantee holds (>= min_copies durable).
  /// `tag` may be empty (push by digest).
  virtual void push(std::string repository, std::string tag, std::string digest, push_fn done) = 0;
  /// Deletes repository:reference from the cluster (protocol.hpp
  /// delete_image): `done` says ok once the master recorded the delete for
  /// every data manager.
  virtual void remove(std::string repository, std::string reference, delete_fn done) = 0;
  /// The tags of `repository` across the cluster (protocol.hpp tags_query).
  virtual void tags(std::string repository, tags_fn done) = 0;
  /// The repositories the cluster holds images of (protocol.hpp repositories_query).
  virtual void repositories(repositories_fn done) = 0;
  /// A client started uploading blobs into `repository`: open a push session
  /// ahead of its manifest, so each blob can go on to the target at once.
  virtual void open_push(std::string repository) = 0;
  /// A client's blob is in the runtime's store (sent ahead if a session is open).
  virtual void blob_pushed(std::string repository, std::string digest) = 0;
  /// A client started uploading blob `digest` of `size` bytes (sent ahead
  /// while it arrives, if a session is open).
  virtual void blob_arriving(std::string repository, std::string digest, std::uint64_t size) = 0;
};

/// `timeout` bounds one whole pull or push as seen from the HTTP side.
std::shared_ptr<runtime_port> make_runtime_port(caf::actor_system& sys, const caf::actor& runtime,
                                                std::chrono::milliseconds timeout = std::chrono::minutes(30));

// ---- master -------------------------------------------------------------------

/// The master's queries for the admin API. Each callback gets nullopt if the
/// master did not answer within the port's timeout.
class master_port {
public:
  template <class T>
  using answer_fn = std::function<void(std::optional<std::vector<T>>)>;
  virtual ~master_port() = default;
  virtual void nodes(answer_fn<node_record> done) = 0;
  virtual void images(answer_fn<image_record> done) = 0;
  /// Newest first; `limit` 0 = every decision the master keeps.
  virtual void decisions(std::uint32_t limit, answer_fn<decision> done) = 0;
  virtual void handoffs(answer_fn<handoff_record> done) = 0;
  virtual void removals(answer_fn<removal_record> done) = 0;
};

std::shared_ptr<master_port> make_master_port(caf::actor_system& sys, const caf::actor& master,
                                              std::chrono::milliseconds timeout = std::chrono::seconds(5));

// ---- test packets ---------------------------------------------------------------

/// A test packet that arrived whole on the data plane (CAF-free twin of
/// protocol.hpp's test_packet).
struct probe_arrival {
  std::uint64_t round = 0;
  std::string node;             // the sending data manager
  std::uint64_t bytes = 0;
  std::uint64_t transfer_us = 0; // from the request header to its last body byte
};

/// Hands arrivals to the receiving actor (runtime, or master for third tests).
using packet_sink = std::function<void(const probe_arrival&)>;

/// A sink that sends test_packet{...} to `receiver` (fire and forget), as
/// `receiver` itself: link guards refuse anonymous messages, and this one
/// comes from this very process.
packet_sink make_packet_sink(const caf::actor& receiver);

} // namespace stowage::actors
