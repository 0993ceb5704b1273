// The socket's receive low-water mark (SO_RCVLOWAT), for body reads.
//
// Loopback hands a reader ~64 KiB per wake-up; on this project's VM each
// wake-up (epoll, a context switch, Beast's timer re-armed) cost more than
// its bytes. With the mark at a quarter MiB a 256 MiB push made 3,455 recvmsg
// calls instead of 17,518. The mark must never exceed what the read still
// needs, or the last bytes of a body would never wake it: set it before each
// single read_some, and back to 1 before reading a header.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <cstddef>

namespace stowage::net {

class receive_low_water {
public:
  static constexpr std::size_t body = 256 * 1024;

  /// Sets the mark on `fd` to min(`wanted`, body); a system call only when it changes.
  void set(int fd, std::size_t wanted) {
    auto bytes = std::clamp<std::size_t>(wanted, 1, body);
    if (bytes == current_) return;
    int v = static_cast<int>(bytes);
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) == 0) current_ = bytes;
  }

private:
  std::size_t current_ = 1; // the kernel's default
};

} // namespace stowage::net
