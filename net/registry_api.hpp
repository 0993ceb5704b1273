// The OCI Distribution API (spec v1.1) over a registry_store, as an
// http_handler. The same code serves a single-node `stowage serve` and a data
// manager in the cluster; the cluster plugs in through two small hooks:
//  - push_gate: consulted before every write (upload start, PATCH, PUT,
//    manifest PUT, DELETE); may refuse with 401/403 and a WWW-Authenticate.
//  - after_manifest_put: called after a manifest is stored and before the
//    client's 201; its completion lets the 201 go out or turns it into an
//    error (the cluster holds the acknowledgement until min_copies).
#pragma once

#include "net/http_types.hpp"
#include "oci/digest.hpp"
#include "oci/errors.hpp"
#include "store/registry_store.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stowage::net {

/// Why a write (or a held acknowledgement) is refused: becomes an OCI error response.
struct refusal {
  int status = 401;
  oci::error_code code = oci::error_code::unauthorized;
  std::string message;
  std::string www_authenticate; // sent as WWW-Authenticate when non-empty
};

/// What a write is about, for the gate.
struct write_attempt {
  std::string_view method;        // "POST", "PATCH", "PUT", "DELETE"
  std::string_view repository;
  std::string_view authorization; // the Authorization header, possibly empty
  std::string_view target;        // path and query exactly as sent (what node signatures cover)
  bool from_this_host = false;    // request::from_this_host
};

class push_gate {
public:
  virtual ~push_gate() = default;
  /// nullopt: allowed.
  virtual std::optional<refusal> check(const write_attempt& w) = 0;
  /// A manifest PUT by `tag`, after check() allowed it and its body (of
  /// digest `manifest`) proved valid: may refuse the tag or the manifest, or
  /// set the sequence number the tag gets (a cluster's master-assigned one);
  /// `seq` left empty: the store's next.
  virtual std::optional<refusal> check_tag(const write_attempt& w, std::string_view tag, const oci::digest& manifest,
                                           std::optional<std::uint64_t>& seq) {
    (void)w, (void)tag, (void)manifest, (void)seq;
    return std::nullopt;
  }
  /// Ends what check_tag allowed: `stored`, the push is over (a cluster's
  /// proof admits nothing more); not stored (the store failed), the client
  /// may try again.
  virtual void tag_done(const write_attempt& w, bool stored) { (void)w, (void)stored; }
};

/// Lets every write through (single-node `serve`).
class open_gate final : public push_gate {
public:
  std::optional<refusal> check(const write_attempt&) override { return std::nullopt; }
};

/// A manifest that was just stored.
struct manifest_put_event {
  std::string repository;
  oci::digest dig;
  std::string media_type;
  std::uint64_t size = 0;
  std::optional<std::string> tag;
  std::optional<std::uint64_t> tag_seq;   // the tag's sequence number after the PUT
  std::vector<oci::digest> blobs;         // config and layers
  std::vector<oci::digest> children;      // index entries
  std::optional<oci::digest> subject;
  std::string authorization;              // the client's Authorization header
};

/// Completion of the hook: nullopt lets the 201 go out; a refusal replaces it.
using manifest_put_done = std::function<void(std::optional<refusal>)>;
/// Must call `done` exactly once, from any thread.
using after_manifest_put_hook = std::function<void(const manifest_put_event&, manifest_put_done done)>;

struct registry_api_options {
  std::uint64_t max_manifest_bytes = 4 * 1024 * 1024;
  /// POST ?mount= without from= looks for the blob in every repository.
  bool automatic_cross_mount = true;
  /// How uploaded blobs are written (see store::upload_use): read_soon on a
  /// data manager in a cluster, whose peers fetch each pushed blob right away.
  /// Kept (O_DIRECT) for a standalone registry: `bench_serve` measured curl
  /// uploads at 1.65x distribution's speed with read_soon, 2.17x without.
  store::upload_use uploads = store::upload_use::kept;
};

class registry_api final : public http_handler {
public:
  /// `gate` null: open. `hook` empty: completes at once.
  registry_api(store::registry_store& store, std::shared_ptr<push_gate> gate = nullptr,
               after_manifest_put_hook hook = {}, registry_api_options opts = {});
  route_result route(const request& req) override;
  /// An OCI error body (UNSUPPORTED), as for any other request it refuses.
  response malformed(std::string_view why) const override;

  // ---- pieces shared by the handler files ---------------------------------
  store::registry_store& store() { return store_; }
  const registry_api_options& options() const { return opts_; }
  std::optional<refusal> gate(const request& req, std::string_view repo) const;
  /// push_gate::check_tag and push_gate::tag_done for `w`.
  std::optional<refusal> gate_tag(const write_attempt& w, std::string_view tag, const oci::digest& manifest,
                                  std::optional<std::uint64_t>& seq) const;
  void tag_done(const write_attempt& w, bool stored) const;
  void after_manifest_put(const manifest_put_event& ev, manifest_put_done done) const;

private:
  store::registry_store& store_;
  std::shared_ptr<push_gate> gate_;
  after_manifest_put_hook hook_;
  registry_api_options opts_;
};

/// An OCI error response ({"errors":[…]}), with the spec's status unless given.
response error_response(oci::error_code code, std::string_view message, int status = 0,
                        std::string_view detail_json = "null");
response refusal_response(const refusal& r);

} // namespace stowage::net
