// TCX links (Linux 6.6+): attach, replace the program atomically, detach, describe, query.
// libbpf 1.1 predates TCX, so the attach types and the newer attribute fields are
// spelled out here; the kernel side is stable UAPI.
#include <bpf/bpf.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "errors.h"
#include "exports.h"

namespace tsbpf {
namespace {

constexpr uint32_t kTcxIngress = 46;  // BPF_TCX_INGRESS
constexpr uint32_t kTcxEgress = 47;   // BPF_TCX_EGRESS

uint32_t AttachTypeArg(const Napi::CallbackInfo& info, size_t index) {
  uint32_t type = U32Arg(info, index);
  if (type != kTcxIngress && type != kTcxEgress) {
    throw Napi::TypeError::New(info.Env(), "attach type must be BPF_TCX_INGRESS or BPF_TCX_EGRESS");
  }
  return type;
}

// tcxAttach(programFd, ifindex, attachType) -> link fd, appended after existing programs.
Napi::Value Attach(const Napi::CallbackInfo& info) {
  int fd = bpf_link_create(FdArg(info, 0), U32Arg(info, 1),
                           static_cast<enum bpf_attach_type>(AttachTypeArg(info, 2)), nullptr);
  if (fd < 0) ThrowBpfError(info.Env(), "bpf_link_create", errno);
  return Napi::Number::New(info.Env(), fd);
}

// linkUpdate(linkFd, newProgramFd, expectedOldProgramFd | -1): one atomic swap, so
// no packet meets an empty hook; with an expected old program it fails (EPERM)
// when someone else swapped first.
Napi::Value Update(const Napi::CallbackInfo& info) {
  struct bpf_link_update_opts options = {};
  options.sz = sizeof(options);
  int old_fd = FdArg(info, 2);
  if (old_fd >= 0) {
    options.flags = BPF_F_REPLACE;
    options.old_prog_fd = old_fd;
  }
  if (bpf_link_update(FdArg(info, 0), FdArg(info, 1), &options) != 0) {
    ThrowBpfError(info.Env(), "bpf_link_update", errno);
  }
  return info.Env().Undefined();
}

Napi::Value Detach(const Napi::CallbackInfo& info) {
  if (bpf_link_detach(FdArg(info, 0)) != 0) ThrowBpfError(info.Env(), "bpf_link_detach", errno);
  return info.Env().Undefined();
}

// For a TCX link the kernel fills the info union with { ifindex, attach_type }, which
// has the layout of the older netns member these headers know.
Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_link_info link_info = {};
  uint32_t length = sizeof(link_info);
  if (bpf_obj_get_info_by_fd(FdArg(info, 0), &link_info, &length) != 0) {
    ThrowBpfError(env, "bpf_obj_get_info_by_fd", errno);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("type", link_info.type);
  result.Set("id", link_info.id);
  result.Set("programId", link_info.prog_id);
  result.Set("ifindex", link_info.netns.netns_ino);
  result.Set("attachType", link_info.netns.attach_type);
  return result;
}

// The BPF_PROG_QUERY attribute as of Linux 6.6.
struct ProgramQuery {
  uint32_t target_ifindex;
  uint32_t attach_type;
  uint32_t query_flags;
  uint32_t attach_flags;
  uint64_t program_ids;
  uint32_t count;
  uint32_t padding;
  uint64_t program_attach_flags;
  uint64_t link_ids;
  uint64_t link_attach_flags;
  uint64_t revision;
};

Napi::Array ToArray(Napi::Env env, const std::vector<uint32_t>& ids, uint32_t count) {
  Napi::Array array = Napi::Array::New(env, count);
  for (uint32_t i = 0; i < count; i++) array.Set(i, ids[i]);
  return array;
}

// tcxQuery(ifindex, attachType) -> { programIds, linkIds, revision }; a link id of 0
// marks a program attached without a link.
Napi::Value Query(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ProgramQuery query = {};
  query.target_ifindex = U32Arg(info, 0);
  query.attach_type = AttachTypeArg(info, 1);
  std::vector<uint32_t> programs, links;
  // The kernel reports how many there are when the arrays are too short (or absent):
  // grow to that and ask again, a few times in case attachments change meanwhile.
  uint32_t count = 0;
  for (int attempt = 0; attempt < 4; attempt++) {
    uint32_t capacity = programs.size();
    query.count = capacity;
    query.program_ids = capacity ? reinterpret_cast<uintptr_t>(programs.data()) : 0;
    query.link_ids = capacity ? reinterpret_cast<uintptr_t>(links.data()) : 0;
    int result = syscall(__NR_bpf, BPF_PROG_QUERY, &query, sizeof(query));
    if (result != 0 && errno != ENOSPC) ThrowBpfError(env, "bpf_prog_query", errno);
    count = query.count < capacity ? query.count : capacity;
    if ((result == 0 && query.count <= capacity) || attempt == 3) break;
    programs.assign(query.count, 0);
    links.assign(query.count, 0);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("programIds", ToArray(env, programs, count));
  result.Set("linkIds", ToArray(env, links, count));
  result.Set("revision", Napi::BigInt::New(env, query.revision));
  return result;
}

}  // namespace

void ExportLinkFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("tcxAttach", Napi::Function::New<Attach>(env));
  exports.Set("linkUpdate", Napi::Function::New<Update>(env));
  exports.Set("linkDetach", Napi::Function::New<Detach>(env));
  exports.Set("linkInfo", Napi::Function::New<Info>(env));
  exports.Set("tcxQuery", Napi::Function::New<Query>(env));
}

}  // namespace tsbpf
