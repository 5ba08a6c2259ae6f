// File descriptors of kernel BPF objects: pin, open pinned, tell their kind, close.
#include <bpf/bpf.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include <string>

#include "errors.h"
#include "exports.h"

namespace tsbpf {
namespace {

Napi::Value Pin(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  std::string path = StringArg(info, 1);
  if (bpf_obj_pin(fd, path.c_str()) != 0) ThrowBpfError(info.Env(), "bpf_obj_pin", errno, path);
  return info.Env().Undefined();
}

Napi::Value OpenPinned(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0);
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowBpfError(info.Env(), "bpf_obj_get", errno, path);
  return Napi::Number::New(info.Env(), fd);
}

// The kernel names a BPF fd's kind in its anon inode: bpf-map, bpf-prog, and for links
// bpf_link when created but bpf-link when opened from a pin.
Napi::Value Kind(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  char target[PATH_MAX];
  ssize_t length = readlink(link.c_str(), target, sizeof(target) - 1);
  if (length < 0) ThrowBpfError(info.Env(), "readlink", errno, link);
  std::string name(target, length);
  const char* kind = "other";
  if (name == "anon_inode:bpf-map") kind = "map";
  if (name == "anon_inode:bpf-prog") kind = "program";
  if (name == "anon_inode:bpf_link" || name == "anon_inode:bpf-link") kind = "link";
  return Napi::String::New(info.Env(), kind);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  if (close(fd) != 0) ThrowBpfError(info.Env(), "close", errno);
  return info.Env().Undefined();
}

}  // namespace

void ExportFdFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("objPin", Napi::Function::New<Pin>(env));
  exports.Set("objGet", Napi::Function::New<OpenPinned>(env));
  exports.Set("fdKind", Napi::Function::New<Kind>(env));
  exports.Set("closeFd", Napi::Function::New<Close>(env));
}

}  // namespace tsbpf
