// Running a synchronous JavaScript callback inside another network namespace.
//
// setns() switches only the calling thread, and JavaScript runs on this thread until
// the callback returns, so nothing else runs in the target namespace, and the caller's
// namespace is restored before any other JavaScript runs, even when the callback throws.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "errors.h"
#include "exports.h"

namespace tsbpf {
namespace {

class NamespaceFd {
 public:
  explicit NamespaceFd(int fd, bool owned) : fd_(fd), owned_(owned) {}
  ~NamespaceFd() {
    if (owned_ && fd_ >= 0) close(fd_);
  }
  NamespaceFd(const NamespaceFd&) = delete;
  NamespaceFd& operator=(const NamespaceFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
  bool owned_;
};

void Restore(const NamespaceFd& original) {
  if (setns(original.get(), CLONE_NEWNET) != 0) {
    // Carrying on in the wrong namespace would misconfigure the host: stop here.
    perror("tsbpf: cannot restore the caller's network namespace");
    abort();
  }
}

// runInNetns(pathOrFd, callback) -> whatever callback returns.
Napi::Value RunInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "runInNetns needs a callback");
  Napi::Function callback = info[1].As<Napi::Function>();
  std::string label;
  int target_fd;
  bool owned = info[0].IsString();
  if (owned) {
    label = info[0].As<Napi::String>().Utf8Value();
    target_fd = open(label.c_str(), O_RDONLY | O_CLOEXEC);
    if (target_fd < 0) ThrowBpfError(env, "open", errno, label);
  } else {
    target_fd = FdArg(info, 0);
    label = "fd " + std::to_string(target_fd);
  }
  NamespaceFd target(target_fd, owned);
  NamespaceFd original(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), true);
  if (original.get() < 0) ThrowBpfError(env, "open", errno, "/proc/thread-self/ns/net");
  if (setns(target.get(), CLONE_NEWNET) != 0) ThrowBpfError(env, "setns", errno, label);
  Napi::Value result;
  try {
    result = callback.Call({});
  } catch (...) {
    Restore(original);
    throw;
  }
  Restore(original);
  return result;
}

}  // namespace

void ExportNetnsFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("runInNetns", Napi::Function::New<RunInNetns>(env));
}

}  // namespace tsbpf
