// The Beast server over real loopback sockets with a small handler: keep-alive
// and pipelining, chunked bodies, Expect: 100-continue, file bodies with
// ranges, HEAD, asynchronous answers and a graceful stop.
#include "net/http_server.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

namespace net = stowage::net;

namespace {

/// Echoes what it saw: method, path, body length and a checksum of the body;
/// /file/<n> serves the first n bytes of a file; /late answers from another thread.
struct echo_handler : net::http_handler {
  std::filesystem::path file;
  /// /held keeps its responder here, as the cluster does while it works.
  struct held_slot {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<net::responder> respond;
  };
  std::shared_ptr<held_slot> held = std::make_shared<held_slot>();

  struct sink : net::body_handler {
    std::string method, path;
    std::uint64_t len = 0, sum = 0;
    bool on_data(const char* p, std::size_t n) override {
      for (std::size_t i = 0; i < n; ++i) sum = sum * 31 + static_cast<unsigned char>(p[i]);
      len += n;
      return true;
    }
    void on_end(bool complete, net::responder respond) override {
      net::response r;
      r.body = method + " " + path + " " + std::to_string(len) + " " + std::to_string(sum) + (complete ? "" : " cut");
      respond(std::move(r));
    }
  };

  net::route_result route(const net::request& req) override {
    if (req.path.rfind("/file/", 0) == 0) {
      net::response r;
      r.file = net::file_slice{file, 0, std::stoull(req.path.substr(6)), {}};
      if (auto range = req.headers.get("Range")) { // "bytes=a-b" only, enough for the test
        auto s = std::string(*range).substr(6);
        auto dash = s.find('-');
        r.status = 206;
        r.file->offset = std::stoull(s.substr(0, dash));
        r.file->length = std::stoull(s.substr(dash + 1)) - r.file->offset + 1;
      }
      return net::route_result::answer(std::move(r));
    }
    if (req.path == "/refuse") {
      net::response r;
      r.status = 401;
      r.body = "no";
      return net::route_result::answer(std::move(r));
    }
    if (req.path == "/held") {
      struct keep : net::body_handler {
        std::shared_ptr<held_slot> slot;
        explicit keep(std::shared_ptr<held_slot> s) : slot(std::move(s)) {}
        bool on_data(const char*, std::size_t) override { return true; }
        void on_end(bool, net::responder respond) override {
          std::lock_guard lk(slot->mu);
          slot->respond = std::move(respond);
          slot->cv.notify_all();
        }
      };
      return net::route_result::stream(std::make_unique<keep>(held));
    }
    if (req.path == "/late") {
      struct late : net::body_handler {
        bool on_data(const char*, std::size_t) override { return true; }
        void on_end(bool, net::responder respond) override {
          std::thread([respond] {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            net::response r;
            r.status = 201;
            r.body = "late";
            respond(std::move(r));
          }).detach();
        }
      };
      return net::route_result::stream(std::make_unique<late>());
    }
    auto s = std::make_unique<sink>();
    s->method = req.method;
    s->path = req.path;
    return net::route_result::stream(std::move(s));
  }
};

int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    REQUIRE(n > 0);
    s.remove_prefix(std::size_t(n));
  }
}

std::string read_until_close(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, std::size_t(n));
  }
  return out;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t c = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++c;
  return c;
}

struct server_fixture {
  echo_handler h;
  std::unique_ptr<net::http_server> srv;
  std::string data;
  server_fixture() {
    h.file = std::filesystem::temp_directory_path() / ("stowage-http-" + std::to_string(::getpid()));
    data.resize(3 * 1024 * 1024 + 17);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = char((i * 7919) % 251);
    std::ofstream(h.file, std::ios::binary).write(data.data(), std::streamsize(data.size()));
    net::http_server_options o;
    o.port = 0;
    o.threads = 2;
    srv = std::make_unique<net::http_server>(h, o);
    srv->start();
  }
  ~server_fixture() {
    if (srv) srv->stop();
    std::filesystem::remove(h.file);
  }
};

} // namespace

TEST_CASE_METHOD(server_fixture, "pipelined requests are answered in order on one connection", "[http]") {
  int fd = connect_to(srv->port());
  send_all(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
               "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
               "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n"
               "GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string all = read_until_close(fd);
  ::close(fd);
  auto a = all.find("GET /a 0 0"), b = all.find("POST /b 5 "), c = all.find("PUT /c 5 "), d = all.find("GET /d 0 0");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  REQUIRE(c != std::string::npos);
  REQUIRE(d != std::string::npos);
  CHECK((a < b && b < c && c < d));
  // Same bytes, same checksum, whether chunked or not.
  CHECK(all.substr(b + 8, all.find('\n', b) - b - 8).substr(0, 10) == all.substr(c + 7, 10));
  CHECK(count(all, "Docker-Distribution-API-Version: registry/2.0") == 4);
}

TEST_CASE_METHOD(server_fixture, "Expect: 100-continue gets an interim answer before the body", "[http]") {
  int fd = connect_to(srv->port());
  send_all(fd, "PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  char buf[256];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  REQUIRE(n > 0);
  CHECK(std::string(buf, std::size_t(n)).rfind("HTTP/1.1 100 Continue", 0) == 0);
  send_all(fd, "abc");
  send_all(fd, "GET /z HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string rest = read_until_close(fd);
  ::close(fd);
  CHECK(rest.find("PUT /up 3 ") != std::string::npos);
}

TEST_CASE_METHOD(server_fixture, "an answer before a small body drops the body and keeps the connection", "[http]") {
  int fd = connect_to(srv->port());
  send_all(fd, "PUT /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
               "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string all = read_until_close(fd);
  ::close(fd);
  CHECK(all.rfind("HTTP/1.1 401", 0) == 0);
  CHECK(all.find("GET /after 0 0") != std::string::npos);
}

TEST_CASE_METHOD(server_fixture, "an answer before a large body closes the connection without a reset", "[http]") {
  int fd = connect_to(srv->port());
  send_all(fd, "PUT /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n");
  // The client keeps sending part of the body after the answer went out.
  std::string part(2 * 1024 * 1024, 'x');
  ::send(fd, part.data(), part.size(), MSG_NOSIGNAL);
  std::string all = read_until_close(fd); // ends: the server hung up, cleanly
  ::close(fd);
  CHECK(all.rfind("HTTP/1.1 401", 0) == 0);
  CHECK(all.find("Connection: close") != std::string::npos);
}

TEST_CASE_METHOD(server_fixture, "file bodies: whole, ranged, and HEAD", "[http]") {
  int fd = connect_to(srv->port());
  std::string n = std::to_string(data.size());
  send_all(fd, "GET /file/" + n + " HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /file/" + n + " HTTP/1.1\r\nHost: x\r\nRange: bytes=1048570-2097160\r\n\r\n"
               "HEAD /file/" + n + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string all = read_until_close(fd);
  ::close(fd);
  auto first_body = all.find("\r\n\r\n") + 4;
  CHECK(all.compare(first_body, data.size(), data) == 0);
  auto second = all.find("HTTP/1.1 206", first_body + data.size());
  REQUIRE(second == first_body + data.size());
  auto second_body = all.find("\r\n\r\n", second) + 4;
  CHECK(all.compare(second_body, 2097160 - 1048570 + 1, data, 1048570, 2097160 - 1048570 + 1) == 0);
  auto head = second_body + (2097160 - 1048570 + 1);
  CHECK(all.compare(head, 15, "HTTP/1.1 200 OK") == 0);
  CHECK(all.find("Content-Length: " + n, head) != std::string::npos);
  CHECK(all.size() == all.find("\r\n\r\n", head) + 4); // no body after HEAD
}

TEST_CASE_METHOD(server_fixture, "an answer from another thread reaches the client, stop is graceful", "[http]") {
  int fd = connect_to(srv->port());
  send_all(fd, "POST /late HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
  char buf[512];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  REQUIRE(n > 0);
  CHECK(std::string(buf, std::size_t(n)).rfind("HTTP/1.1 201", 0) == 0);
  // The connection is idle now: stop closes it promptly.
  auto t0 = std::chrono::steady_clock::now();
  srv->stop();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(::recv(fd, buf, sizeof buf, 0) <= 0);
  ::close(fd);
}

namespace {

/// Sends POST /held and waits until the handler holds its responder; the socket.
int post_held(server_fixture& f) {
  int fd = connect_to(f.srv->port());
  send_all(fd, "POST /held HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
  std::unique_lock lk(f.h.held->mu);
  REQUIRE(f.h.held->cv.wait_for(lk, std::chrono::seconds(10), [&] { return f.h.held->respond.has_value(); }));
  return fd;
}

/// Whether the server closed the connection (end of stream or reset), not
/// just left it waiting.
bool closed_by_server(int fd) {
  char buf[512];
  errno = 0;
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n == 0 || errno == ECONNRESET;
}

} // namespace

TEST_CASE_METHOD(server_fixture, "an answer still held outside when the server stops goes nowhere", "[http]") {
  auto slot = h.held;
  int fd = post_held(*this);
  // The server goes while the answer is pending: the connection closes
  // with it, not when the holder lets go of the responder.
  srv.reset();
  CHECK(closed_by_server(fd));
  ::close(fd);
  // Answering after the server is gone does nothing.
  net::response r;
  r.body = "too late";
  (*slot->respond)(std::move(r));
  slot->respond.reset();
}

TEST_CASE_METHOD(server_fixture, "a responder dropped unanswered closes its connection", "[http]") {
  int fd = post_held(*this);
  {
    std::lock_guard lk(h.held->mu);
    h.held->respond.reset();
  }
  CHECK(closed_by_server(fd));
  ::close(fd);
}
