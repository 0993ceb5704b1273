// `stowage serve`: one data manager alone, as a plain single-node registry
// (pushes open). The same registry_api and store as in the cluster.
#include "cli/commands.hpp"
#include "cli/logging.hpp"
#include "net/http_server.hpp"
#include "net/registry_api.hpp"
#include "store/registry_store.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>

namespace stowage::cli {
namespace {

struct serve_options {
  std::string data;
  std::string listen = "127.0.0.1:5000";
  std::string log_level = "info";
  std::string name = "serve";
  unsigned threads = 0;
};

/// "host:port", "[v6]:port" or ":port".
bool split_listen(const std::string& s, std::string& host, std::uint16_t& port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  auto digits = s.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  auto p = std::stoul(digits);
  if (p > 65535) return false;
  port = static_cast<std::uint16_t>(p);
  return true;
}

int run_serve(const serve_options& o) {
  setup_logging(o.name, o.log_level);
  std::string host;
  std::uint16_t port = 0;
  if (!split_listen(o.listen, host, port)) {
    spdlog::error("--listen must be HOST:PORT, got '{}'", o.listen);
    return 2;
  }
  // Block the stop signals in every thread; this one waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::unique_ptr<store::registry_store> st;
  try {
    st = store::registry_store::open(o.data);
  } catch (const std::exception& e) {
    spdlog::error("cannot open the store in {}: {}", o.data, e.what());
    return 1;
  }
  net::registry_api api(*st, std::make_shared<net::open_gate>());
  net::http_server_options hopts;
  hopts.host = host;
  hopts.port = port;
  hopts.name = "oci";
  hopts.threads = o.threads ? o.threads : std::max(2u, std::thread::hardware_concurrency());
  net::http_server server(api, hopts);
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  spdlog::info("serving the OCI Distribution API on {}:{} from {} ({} threads)", host, server.port(), o.data,
               hopts.threads);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("signal {}: stopping", sig);
  server.stop();
  spdlog::info("stopped");
  return 0;
}

} // namespace

void add_serve(CLI::App& app) {
  auto o = std::make_shared<serve_options>();
  auto* cmd = app.add_subcommand("serve", "Run one data manager alone as a single-node registry (pushes open)");
  cmd->add_option("--data", o->data, "Data directory")->required();
  cmd->add_option("--listen", o->listen, "HOST:PORT to listen on")->capture_default_str();
  add_log_level_option(*cmd, o->log_level);
  cmd->add_option("--name", o->name, "Node name in logs")->capture_default_str();
  cmd->add_option("--threads", o->threads, "HTTP threads (default: cores, at least 2)");
  cmd->callback([o] { std::exit(run_serve(*o)); });
}

} // namespace stowage::cli
