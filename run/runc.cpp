#include "run/runc.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <vector>

namespace stowage::run {

namespace {

/// The signals passed on to runc, which passes them on to the container.
constexpr int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/// runc's pid while it runs: where forward() sends what we receive.
std::atomic<pid_t> forward_to{0};
static_assert(std::atomic<pid_t>::is_always_lock_free);

void forward(int sig, siginfo_t* info, void*) {
  // A signal the terminal raised (Ctrl-C) reaches runc itself, in our
  // process group; only one a process sent us (kill, a supervisor) is
  // passed on, so the container does not get it twice.
  if (info && info->si_code == SI_KERNEL) return;
  if (pid_t p = forward_to.load(); p > 0) ::kill(p, sig);
}

// fork + execvp; the child keeps our stdio unless `quiet`. With `out`, the
// child's stdout is read into it (and its stderr dropped).
int spawn_wait(const std::vector<std::string>& argv, bool quiet, std::string& error, std::string* out = nullptr) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  // While the container runs, a signal that would stop this command goes
  // to runc instead (which hands it to the container), and we wait for its
  // exit code. Blocked until runc's pid is known, so none is lost.
  sigset_t signals, old_mask;
  ::sigemptyset(&signals);
  for (int s : forwarded) ::sigaddset(&signals, s);
  ::sigprocmask(SIG_BLOCK, &signals, &old_mask);
  struct sigaction pass {}, old_actions[std::size(forwarded)];
  pass.sa_sigaction = forward;
  pass.sa_flags = SA_SIGINFO | SA_RESTART;
  for (std::size_t i = 0; i < std::size(forwarded); ++i) {
    ::sigaction(forwarded[i], nullptr, &old_actions[i]);
    if (old_actions[i].sa_handler != SIG_IGN) // one our caller ignores (nohup) stays ignored, by both
      ::sigaction(forwarded[i], &pass, nullptr);
  }
  auto restore = [&] {
    for (std::size_t i = 0; i < std::size(forwarded); ++i) ::sigaction(forwarded[i], &old_actions[i], nullptr);
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  };

  // A close-on-exec pipe tells a failed exec (runc missing) from a
  // container that exits 127.
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    restore();
    return -1;
  }
  int output[2] = {-1, -1};
  if (out && ::pipe2(output, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    ::close(report[0]);
    ::close(report[1]);
    restore();
    return -1;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    for (int fd : {report[0], report[1], output[0], output[1]})
      if (fd >= 0) ::close(fd);
    restore();
    return -1;
  }
  if (pid == 0) {
    ::close(report[0]);
    restore(); // runc starts with our caller's signal dispositions and mask
    if (quiet || out) {
      int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(out ? output[1] : devnull, 1);
      ::dup2(devnull, 2);
    }
    ::execvp(args[0], args.data());
    int e = errno;
    if (::write(report[1], &e, sizeof e) != sizeof e) { /* the parent sees 127 */ }
    ::_exit(127);
  }
  forward_to = pid;
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr); // what came meanwhile is passed on now
  ::close(report[1]);
  if (out) {
    ::close(output[1]);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(output[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0) out->append(buf, static_cast<std::size_t>(n));
    ::close(output[0]);
  }
  int exec_errno = 0;
  ssize_t got;
  while ((got = ::read(report[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {}
  ::close(report[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);
  forward_to = 0;
  restore();
  if (got == sizeof exec_errno) {
    error = "cannot run " + argv[0] + ": " + std::strerror(exec_errno);
    return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<std::string> base(const runc_options& opt) {
  std::vector<std::string> v{opt.runc};
  if (!opt.state_root.empty()) v.insert(v.end(), {"--root", opt.state_root.string()});
  return v;
}

} // namespace

int runc_run(const runc_options& opt, const std::filesystem::path& bundle, const std::string& id,
             std::string& error) {
  auto argv = base(opt);
  argv.insert(argv.end(), {"run", "--bundle", bundle.string(), id});
  return spawn_wait(argv, false, error);
}

std::string runc_status(const runc_options& opt, const std::string& id) {
  if (!opt.state_root.empty()) {
    std::error_code ec;
    if (!std::filesystem::exists(opt.state_root / id, ec) && !ec)
      return {}; // runc keeps no state for it
  }
  auto argv = base(opt);
  argv.insert(argv.end(), {"state", id});
  std::string error, out;
  if (spawn_wait(argv, true, error, &out) != 0)
    return "unknown"; // it has state, but this runc could not read it (another binary, say)
  auto state = nlohmann::json::parse(out, nullptr, false);
  if (!state.is_object() || !state.contains("status") || !state["status"].is_string())
    return "unknown";
  return state["status"].get<std::string>();
}

void runc_delete(const runc_options& opt, const std::string& id) {
  auto argv = base(opt);
  argv.insert(argv.end(), {"delete", "--force", id});
  std::string ignored;
  spawn_wait(argv, true, ignored);
}

} // namespace stowage::run
