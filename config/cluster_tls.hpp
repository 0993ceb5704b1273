// TLS for the middleman links (DESIGN §4), with the cluster file as the only
// trust root: no certificate authority to run, no certificates to copy.
//
// CAF's OpenSSL module does mutual TLS from three files: a node's
// certificate, its private key and the certificates it trusts. Each process
// builds them at start from its Ed25519 identity and the public keys of the
// cluster file:
// - its certificate (subject "O=stowage-node, CN=<name>") carries its own
//   key and is signed by it, naming "O=stowage-anchor, CN=<name>" as issuer;
// - the trusted file holds one anchor per node of the cluster file: subject
//   and issuer "O=stowage-anchor, CN=<name>", that node's public key.
// A peer's certificate is thus accepted iff it is signed with the key the
// cluster file gives for the name it claims. An anchor is a (name, key)
// pair (RFC 5280 §6.1.1); OpenSSL wants it wrapped in a certificate but does
// not check a trust anchor's own signature, so anchors are signed with a
// throwaway key. Only processes holding the secret key of a node in the
// cluster file complete the handshake; the stream is encrypted and
// integrity-protected.
//
// The three "files" live in sealed memory files of this process
// (memfd_create), named /proc/self/fd/N: CAF reads them again for every new
// connection, and nothing else can change, remove or read them meanwhile
// (no key copy on disk, no other process rewriting them).
#pragma once

#include "config/identity.hpp"

#include <map>
#include <string>
#include <vector>

namespace stowage::config {

/// The three files, open for the life of this object (CAF reads them by
/// path for every connection: keep it as long as the actor system).
class tls_files {
public:
  std::string certificate, key, trusted; // "/proc/self/fd/N"

  tls_files() = default;
  tls_files(tls_files&& o) noexcept;
  tls_files& operator=(tls_files&& o) noexcept;
  tls_files(const tls_files&) = delete;
  tls_files& operator=(const tls_files&) = delete;
  ~tls_files();

private:
  friend tls_files make_cluster_tls(const std::string&, const identity&, const std::map<std::string, std::string>&);
  std::vector<int> fds_;
};

/// Node `name`'s certificate and key (identity `id`) and the anchors of
/// `keys` (node name -> hex Ed25519 public key). Throws std::runtime_error
/// naming what failed.
tls_files make_cluster_tls(const std::string& name, const identity& id, const std::map<std::string, std::string>& keys);

} // namespace stowage::config
