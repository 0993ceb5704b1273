// Every middleman link is TLS (caf::openssl). CAF 0.17's session reads a
// connection's outcome with SSL_get_error, which looks at the calling
// thread's OpenSSL error queue; OpenSSL requires that queue to be empty
// before each SSL_read/SSL_write/SSL_accept/SSL_connect. CAF empties it only
// inside its log statements, and Debian builds CAF with logging compiled out
// (CAF_LOG_LEVEL_QUIET). So after one link failed (a node stopped, a client
// with a foreign key was refused), its error stayed queued on the
// middleman's thread, and the next link that simply had nothing to read was
// taken as broken and closed: killing one data manager cut the master's
// link to another, and with two data managers linked to each other each
// lost its link to the master 7 times in 15 s (3 processes, measured).
//
// The executable defines these four functions and exports them, so the
// dynamic linker binds libcaf_openssl's calls to them; each empties the
// queue and calls libssl's own.
#include "node/tls_error_queue.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <dlfcn.h>

namespace {

template <class Fn>
Fn next(const char* name) {
  // Resolved once per function; libssl is loaded before main().
  return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

using read_fn = int (*)(SSL*, void*, int);
using write_fn = int (*)(SSL*, const void*, int);
using handshake_fn = int (*)(SSL*);

} // namespace

extern "C" {

int SSL_read(SSL* s, void* buf, int num) {
  static const auto real = next<read_fn>("SSL_read");
  ERR_clear_error();
  return real(s, buf, num);
}

int SSL_write(SSL* s, const void* buf, int num) {
  static const auto real = next<write_fn>("SSL_write");
  ERR_clear_error();
  return real(s, buf, num);
}

int SSL_accept(SSL* s) {
  static const auto real = next<handshake_fn>("SSL_accept");
  ERR_clear_error();
  return real(s);
}

int SSL_connect(SSL* s) {
  static const auto real = next<handshake_fn>("SSL_connect");
  ERR_clear_error();
  return real(s);
}

} // extern "C"

namespace stowage::node {

bool tls_error_queue_guarded() {
  // Ours first for every caller, and libssl's own behind it.
  auto bound = [](const char* name, void* ours) {
    return ::dlsym(RTLD_DEFAULT, name) == ours && ::dlsym(RTLD_NEXT, name) != nullptr;
  };
  return bound("SSL_read", reinterpret_cast<void*>(&SSL_read)) &&
         bound("SSL_write", reinterpret_cast<void*>(&SSL_write)) &&
         bound("SSL_accept", reinterpret_cast<void*>(&SSL_accept)) &&
         bound("SSL_connect", reinterpret_cast<void*>(&SSL_connect));
}

} // namespace stowage::node
