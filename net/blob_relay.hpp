// Blobs on their way into a store, relayed to readers while they arrive
// (cut-through). Two users:
//  - The runtime's gateway: a pull through the gateway answers the client's
//    manifest request as soon as the master has planned the pull, and each
//    blob GET is served from the bytes the chosen data manager is sending at
//    that moment, instead of after the whole image landed.
//  - A push's target data manager (net/push_relay.hpp): its peers fetch each
//    blob while the runtime is still sending it, instead of after.
//
//  - The receiving side: every blob upload of a delivery (a data manager
//    sending into the cache) reports its bytes as they go into the store
//    (`arriving`, then data... and end).
//  - Pulls in flight `expect` the blobs of their manifest, so a GET that
//    comes before the first byte waits instead of answering 404.
//  - The serving side (`open`): a body_source that hands out arrived bytes;
//    a reader more than `window` behind reads them from the upload's file
//    (where the store wrote them), and once the blob is committed (or the
//    arrival failed and another target sent it again) the reader continues
//    from the cache file at the same offset.
//
// Nothing unverified is ever completed, checked one of two ways (`check`):
//  - digest: the source hashes every byte it hands out and withholds the last
//    piece unless the whole matches the digest. A reader may then continue
//    across uploads (a delivery that failed midway, then its retry).
//  - commit: no hashing; the source withholds the last byte until the upload
//    it read from committed (the store verified those very bytes), and cuts
//    the body if that upload fails or another replaces it. For readers that
//    verify what they store anyway, this saves a hash of every byte.
// A mismatch or a pull that ends without the blob cuts the response short,
// so the client sees a truncated body, never a wrong one.
//
// Memory stays flat: an arrival keeps at most `window` bytes (plus one piece)
// for readers that are behind.
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
  static constexpr std::uint64_t window = 8 << 20;
  // So every byte before the window is in the upload's file.
  static_assert(window > store::upload_writer::max_unwritten);

  enum class check { digest, commit };
  explicit blob_relay(std::shared_ptr<store::registry_store> cache, check how = check::digest);
  ~blob_relay();

  /// One upload of a blob into the cache. Call data() with each piece as the
  /// store takes it, then end() once: committed (verified and durable in the
  /// cache) or not.
  class arrival {
  public:
    virtual ~arrival() = default;
    virtual void data(const char* p, std::size_t n) = 0;
    virtual void end(bool committed) = 0;
  };
  /// A new upload of blob `d` into `repo` starts at offset 0; it replaces an
  /// earlier one. `file`: the upload session's file (upload_info::file), for
  /// readers behind the window; without it they wait for the commit.
  std::shared_ptr<arrival> arriving(const std::string& repo, const oci::digest& d,
                                    std::filesystem::path file = {});

  /// A pull in flight will bring blob `d` (`size` bytes) into `repo`;
  /// counted, undone by settle().
  void expect(const std::string& repo, const oci::digest& d, std::uint64_t size);
  void settle(const std::string& repo, const oci::digest& d);

  /// The body of blob `d` of `repo` (of the size its pull expects) while a
  /// pull in flight brings it; nullopt otherwise. Looks in memory only.
  std::optional<streamed_body> open(const std::string& repo, const oci::digest& d);

  /// Runs `then` (on any thread, possibly at once) when blob `d` of `repo`
  /// is no longer on its way: committed to the cache, or no pull brings it.
  void when_settled(const std::string& repo, const oci::digest& d, std::function<void()> then);

  /// Wraps the body handler of an upload into the store: each piece goes to
  /// `arrival` once the store took it, and the end with the store's answer
  /// (201: committed). `after` (optional) runs once the arrival ended.
  static std::unique_ptr<body_handler> relayed(std::unique_ptr<body_handler> upload, std::shared_ptr<arrival> arrival,
                                               std::function<void()> after = {});

private:
  struct state;
  struct outcome;
  class upload;
  class reader;
  static void wait_settled(std::shared_ptr<state> st, std::string repo, oci::digest d, std::function<void()> then);
  std::shared_ptr<state> st_;
};

} // namespace stowage::net
