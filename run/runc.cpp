#include "run/runc.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace stowage::run {

namespace {

// fork + execvp; the child keeps our stdio unless `quiet`.
int spawn_wait(const std::vector<std::string>& argv, bool quiet, std::string& error) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  // While the container runs, a Ctrl-C or SIGTERM reaches runc (same process
  // group) and runc forwards it; we wait for its exit code instead of dying.
  struct sigaction ignore {}, old_int {}, old_term {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ignore, &old_int);
  ::sigaction(SIGTERM, &ignore, &old_term);

  // A close-on-exec pipe tells a failed exec (runc missing) from a
  // container that exits 127.
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return -1;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    ::close(report[0]);
    ::close(report[1]);
    return -1;
  }
  if (pid == 0) {
    ::close(report[0]);
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    if (quiet) {
      int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    ::execvp(args[0], args.data());
    int e = errno;
    if (::write(report[1], &e, sizeof e) != sizeof e) { /* the parent sees 127 */ }
    ::_exit(127);
  }
  ::close(report[1]);
  int exec_errno = 0;
  ssize_t got;
  while ((got = ::read(report[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {}
  ::close(report[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
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

void runc_delete(const runc_options& opt, const std::string& id) {
  auto argv = base(opt);
  argv.insert(argv.end(), {"delete", "--force", id});
  std::string ignored;
  spawn_wait(argv, true, ignored);
}

} // namespace stowage::run
