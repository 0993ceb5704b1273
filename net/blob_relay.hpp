// Blobs on their way into a store, relayed to readers while they arrive
// (cut-through). Three users:
//  - The runtime's gateway: a pull through the gateway answers the client's
//    manifest request as soon as the master has planned the pull, and each
//    blob GET is served from the bytes the chosen data manager is sending at
//    that moment, instead of after the whole image landed.
//  - The same gateway on a push: the runtime sends each of the client's
//    blobs on to the push's target while the client uploads it
//    (net/client_uploads.hpp).
//  - A push's target data manager (net/push_relay.hpp): its peers fetch each
//    blob while the runtime is still sending it, instead of after.
//
//  - The receiving side: an upload into the store reports the bytes the
//    store took (`arriving`, then data... and end).
//  - `expect`: a reader that comes before the first byte waits instead of
//    being told 404.
//  - The serving side (`open`): a body_source that reads the upload's file
//    as it grows (all but the writer's last max_unwritten bytes are in it;
//    store::range_reader reads them from the page cache, or from the disk
//    where the store wrote around it, as a runtime's cache does), and
//    once the upload committed, the stored blob from the same offset. An
//    upload without a file (not the whole blob from its first byte) is not
//    followed: readers wait for its commit.
//
// Nothing unverified is ever completed, and nothing is hashed a second time:
// the last byte of a body comes only from the committed blob (the store
// verified it against the digest), and only if every byte sent before came
// from that same upload. A reader whose upload failed or was replaced (a
// delivery cut midway, then its retry from another data manager) goes on
// only once what it sent compares equal to the new source at the same
// offsets (the reader keeps the old file open for that). A mismatch, or a
// pull that ends without the blob, cuts the response short: the client sees
// a truncated body, never a wrong one.
//
// Memory stays flat: the relay holds offsets and file names, no bytes.
#pragma once

#include "net/http_types.hpp"
#include "oci/digest.hpp"
#include "store/registry_store.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace stowage::net {

class blob_relay {
public:
  explicit blob_relay(std::shared_ptr<store::registry_store> store);
  ~blob_relay();

  /// One upload of a blob into the store. Call data() with the size of each
  /// piece the store took, then end() once: committed (verified and in the
  /// store) or not.
  class arrival {
  public:
    virtual ~arrival() = default;
    virtual void data(std::size_t n) = 0;
    virtual void end(bool committed) = 0;
  };
  /// A new upload of blob `d` into `repo` starts at offset 0; it replaces an
  /// earlier one. `file`: the upload session's file (upload_info::file);
  /// without it readers wait for the commit.
  std::shared_ptr<arrival> arriving(const std::string& repo, const oci::digest& d,
                                    std::filesystem::path file = {});

  /// Wraps the body handler of an upload into the store: the size of each
  /// piece goes to `arrival` once the store took it, and the end with the
  /// store's answer (201: committed). `after` (optional) runs once the
  /// arrival ended.
  static std::unique_ptr<body_handler> relayed(std::unique_ptr<body_handler> upload, std::shared_ptr<arrival> arrival,
                                               std::function<void()> after = {});

  /// Blob `d` (`size` bytes) is on its way into `repo`; counted, undone by
  /// settle().
  void expect(const std::string& repo, const oci::digest& d, std::uint64_t size);
  void settle(const std::string& repo, const oci::digest& d);

  /// The body of blob `d` of `repo` (of the size expected) while it is
  /// expected; nullopt otherwise. Looks in memory only.
  std::optional<streamed_body> open(const std::string& repo, const oci::digest& d);

  /// Runs `then` (on any thread, possibly at once) when blob `d` of `repo`
  /// is no longer on its way: committed to the store, or no longer expected.
  void when_settled(const std::string& repo, const oci::digest& d, std::function<void()> then);

private:
  struct state;
  struct outcome;
  class upload;
  class reader;
  static void wait_settled(std::shared_ptr<state> st, std::string repo, oci::digest d, std::function<void()> then);
  std::shared_ptr<state> st_;
};

} // namespace stowage::net
