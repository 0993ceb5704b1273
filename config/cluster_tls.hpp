// TLS for the middleman links (DESIGN §4), with the cluster file as the only
// trust root: no certificate authority to run, no certificates to copy.
//
// CAF's OpenSSL module does mutual TLS from three files: a node's
// certificate, its private key and the certificates it trusts. Each node
// writes them at start from its Ed25519 identity and the public keys of the
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
#pragma once

#include "config/identity.hpp"

#include <filesystem>
#include <map>
#include <string>

namespace stowage::config {

struct tls_files {
  std::filesystem::path certificate, key, trusted;
};

/// Writes node `name`'s certificate and key (mode 0600) and the anchors of
/// `keys` (node name -> hex Ed25519 public key) into `dir`, replacing what
/// was there. Throws std::runtime_error naming the file on failure.
tls_files write_cluster_tls(const std::filesystem::path& dir, const std::string& name, const identity& id,
                            const std::map<std::string, std::string>& keys);

} // namespace stowage::config
