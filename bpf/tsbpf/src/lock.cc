// flock(2) for state files shared between processes (IPAM): the kernel drops the lock
// when its holder dies, so a killed plugin never leaves the state locked.
#include <errno.h>
#include <sys/file.h>

#include "errors.h"
#include "exports.h"

namespace tsbpf {
namespace {

// tryLock(fd) -> true when the exclusive lock was taken, false when another holds it.
Napi::Value TryLock(const Napi::CallbackInfo& info) {
  if (flock(FdArg(info, 0), LOCK_EX | LOCK_NB) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
  ThrowBpfError(info.Env(), "flock", errno);
}

}  // namespace

void ExportLockFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("tryLock", Napi::Function::New<TryLock>(env));
}

}  // namespace tsbpf
