// A workaround for CAF 0.17's OpenSSL module as Debian builds it: see
// tls_error_queue.cpp.
#pragma once

namespace stowage::node {

/// True if this process's SSL_read, SSL_write, SSL_accept and SSL_connect are
/// the wrappers that empty OpenSSL's error queue first (the executable must
/// export them; CMake does). Without them one failed middleman link makes
/// the next idle one fail too.
bool tls_error_queue_guarded();

} // namespace stowage::node
