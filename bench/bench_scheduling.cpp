// Scheduling decisions per second through the master actor, in process.
//
// A real actor system (threaded scheduler) runs the master, data managers
// and runtimes. Each pull is the whole control-plane flow: pull request,
// probe round (round start, a test request per holder, the runtime's
// measurements and results), ranking, decision log, scheduling request and
// answers. The data plane is replaced by an instant one so the figure is the
// control plane's alone: test packets arrive at once with a transfer time
// derived from each data manager's nominal bandwidth, and the image
// transfer reports success without moving bytes (the runtime already holds
// the image, so its digest check still runs against its real store).
//
//   bench_scheduling [pulls=20000] [data_managers=3] [runtimes=8] [window=64]
#include "actors/data_manager.hpp"
#include "actors/master.hpp"
#include "actors/protocol.hpp"
#include "actors/runtime.hpp"
#include "actors/sample_image.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <sys/resource.h>

using namespace stowage;
namespace sa = stowage::actors;

namespace {

// CPU seconds (user + system) this process used so far: on a shared machine
// the wall-clock figure depends on the neighbours, this one much less.
double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

struct bench_config : caf::actor_system_config {
  bench_config() {
    sa::add_protocol_types(*this);
    set("work-stealing.moderate-poll-attempts", 0); // as `stowage up` runs (node/launch.cpp)
  }
};

// Delivers test packets at once to the receiving actor.
class instant_probes : public sa::probe_sender {
public:
  void set_receiver(const std::string& name, caf::actor a) {
    std::lock_guard lock(mtx_);
    receivers_[name] = std::move(a);
  }
  void set_rate(const std::string& node, std::uint64_t bytes_per_second) {
    std::lock_guard lock(mtx_);
    rates_[node] = bytes_per_second;
  }
  void send_test_packet(const std::string& from, const std::string& to, std::uint64_t round, std::uint64_t bytes,
                        std::chrono::microseconds) override {
    caf::actor receiver;
    std::uint64_t rate = 1;
    {
      std::lock_guard lock(mtx_);
      receiver = receivers_[to];
      rate = std::max<std::uint64_t>(1, rates_[from]);
    }
    if (receiver)
      caf::anon_send(receiver, sa::test_packet{round, from, bytes, bytes * 1'000'000 / rate});
  }

private:
  std::mutex mtx_;
  std::map<std::string, caf::actor> receivers_;
  std::map<std::string, std::uint64_t> rates_;
};

// Completes every copy at once without moving bytes.
class null_transfer : public sa::image_transfer {
public:
  void copy(sa::transfer_order, done_fn done) override { done({true, {}, 0, 0}); }
};

} // namespace

int main(int argc, char** argv) {
  // Positional numbers first; CAF options (--scheduler.max-threads=…) after.
  std::vector<std::size_t> nums;
  int i = 1;
  for (; i < argc && argv[i][0] != '-'; ++i)
    nums.push_back(std::stoul(argv[i]));
  std::size_t pulls = nums.size() > 0 ? nums[0] : 20000;
  std::size_t n_dm = nums.size() > 1 ? nums[1] : 3;
  std::size_t n_rt = nums.size() > 2 ? nums[2] : 8;
  std::size_t window = nums.size() > 3 ? nums[3] : 64;
  spdlog::set_level(spdlog::level::warn);

  char tmpl[] = "/tmp/stowage-bench-XXXXXX";
  std::filesystem::path root = ::mkdtemp(tmpl);
  bench_config cfg;
  if (auto err = cfg.parse(argc - i + 1, argv + i - 1)) {
    std::fprintf(stderr, "bad option: %s\n", to_string(err).c_str());
    return 2;
  }
  caf::actor_system sys{cfg};
  auto probes = std::make_shared<instant_probes>();
  auto transfer = std::make_shared<null_transfer>();
  config::cluster_settings settings;
  settings.probe_timeout = std::chrono::milliseconds(5000);
  settings.retry_interval = std::chrono::milliseconds(60000);

  sa::master_config mc;
  mc.dir = root / "master";
  mc.settings = settings;
  auto master = sa::spawn_master(sys, mc);

  const std::string repo = "bench/app";
  std::vector<caf::actor> dms, rts;
  for (std::size_t i = 1; i <= n_dm; ++i) {
    auto name = "dm" + std::to_string(i);
    std::shared_ptr<store::registry_store> s = store::registry_store::open(root / name);
    sa::store_sample_image(*s, repo, "v1", 4096, 1);
    probes->set_rate(name, 10'000'000 * i);
    sa::data_manager_config dc;
    dc.name = name;
    dc.settings = settings;
    dc.store = s;
    dc.guard = std::make_shared<sa::proof_guard>(name, config::identity::generate().public_key(), root / name, sa::unix_now_ms);
    dc.probes = probes;
    dc.transfer = transfer;
    dms.push_back(sa::spawn_data_manager(sys, dc, master));
  }
  for (std::size_t i = 1; i <= n_rt; ++i) {
    auto name = "rt" + std::to_string(i);
    std::shared_ptr<store::registry_store> s = store::registry_store::open(root / name);
    sa::store_sample_image(*s, repo, "v1", 4096, 1);
    sa::runtime_config rc;
    rc.name = name;
    rc.settings = settings;
    rc.store = s;
    rc.transfer = transfer;
    auto rt = sa::spawn_runtime(sys, rc, master);
    probes->set_receiver(name, rt);
    rts.push_back(rt);
  }

  caf::scoped_actor self{sys};
  // Wait until every node has joined.
  for (;;) {
    std::size_t joined = 0;
    self->request(master, std::chrono::seconds(5), sa::nodes_query{})
      .receive([&](sa::nodes_answer& a) { joined = a.nodes.size(); }, [](caf::error&) {});
    if (joined == 1 + n_dm + n_rt)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  std::size_t sent = 0, done = 0, failed = 0;
  auto start = std::chrono::steady_clock::now();
  auto cpu_start = cpu_seconds();
  auto send_one = [&] {
    self->send(rts[sent % rts.size()], sa::pull_image{repo, "v1"});
    ++sent;
  };
  while (sent < std::min(window, pulls))
    send_one();
  while (done < pulls) {
    self->receive([&](sa::pull_done& d) {
      ++done;
      if (!d.ok)
        ++failed;
      if (sent < pulls)
        send_one();
    });
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto cpu = cpu_seconds() - cpu_start;

  std::size_t logged = 0;
  self->request(master, std::chrono::seconds(5), sa::decisions_query{1})
    .receive([&](sa::decisions_answer& a) { logged = a.decisions.empty() ? 0 : a.decisions.front().id; },
             [](caf::error&) {});
  std::printf("scheduling decisions: %zu in %.3f s = %.0f decisions/s wall, %.0f decisions per CPU second "
              "(%.1f us CPU each; %zu failed; %zu data managers, %zu runtimes, %zu in flight; last decision id %zu)\n",
              pulls, secs, pulls / secs, pulls / cpu, cpu * 1e6 / pulls, failed, n_dm, n_rt, window, logged);

  for (auto& a : dms)
    self->send_exit(a, caf::exit_reason::user_shutdown);
  for (auto& a : rts)
    self->send_exit(a, caf::exit_reason::user_shutdown);
  self->send_exit(master, caf::exit_reason::user_shutdown);
  std::fflush(stdout);
  self->wait_for(master);
  for (auto& a : dms)
    self->wait_for(a);
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return failed == 0 ? 0 : 1;
}
