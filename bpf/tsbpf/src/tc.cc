// The clsact fallback for kernels without TCX: direct-action bpf filters, and a
// filter dump so a caller can tell whether anything else still uses the qdisc.
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "errors.h"
#include "exports.h"

namespace tsbpf {
namespace {

struct bpf_tc_hook Hook(uint32_t ifindex, bool ingress) {
  struct bpf_tc_hook hook = {};
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
  return hook;
}

// tcAttach(programFd, ifindex, ingress, handle, priority, replace)
//   -> { handle, priority, createdQdisc }
// createdQdisc tells the caller whether the clsact qdisc is ours to remove later.
Napi::Value Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_tc_hook hook = Hook(U32Arg(info, 1), info[2].ToBoolean());
  int error = bpf_tc_hook_create(&hook);
  if (error != 0 && error != -EEXIST) ThrowBpfError(env, "bpf_tc_hook_create", -error);
  bool created_qdisc = error == 0;
  struct bpf_tc_opts options = {};
  options.sz = sizeof(options);
  options.prog_fd = FdArg(info, 0);
  options.handle = U32Arg(info, 3);
  options.priority = U32Arg(info, 4);
  options.flags = info[5].ToBoolean() ? BPF_TC_F_REPLACE : 0;
  error = bpf_tc_attach(&hook, &options);
  if (error != 0) {
    if (created_qdisc) {
      hook.attach_point = static_cast<enum bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&hook);
    }
    ThrowBpfError(env, "bpf_tc_attach", -error);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("handle", options.handle);
  result.Set("priority", options.priority);
  result.Set("createdQdisc", created_qdisc);
  return result;
}

// tcDetach(ifindex, ingress, handle, priority): removes exactly one filter.
Napi::Value Detach(const Napi::CallbackInfo& info) {
  struct bpf_tc_hook hook = Hook(U32Arg(info, 0), info[1].ToBoolean());
  struct bpf_tc_opts options = {};
  options.sz = sizeof(options);
  options.handle = U32Arg(info, 2);
  options.priority = U32Arg(info, 3);
  int error = bpf_tc_detach(&hook, &options);
  if (error != 0) ThrowBpfError(info.Env(), "bpf_tc_detach", -error);
  return info.Env().Undefined();
}

// tcDestroyClsact(ifindex): removes the clsact qdisc and every filter on it.
Napi::Value DestroyClsact(const Napi::CallbackInfo& info) {
  struct bpf_tc_hook hook = Hook(U32Arg(info, 0), true);
  hook.attach_point = static_cast<enum bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
  int error = bpf_tc_hook_destroy(&hook);
  if (error != 0 && error != -ENOENT) ThrowBpfError(info.Env(), "bpf_tc_hook_destroy", -error);
  return info.Env().Undefined();
}

struct Filter {
  uint32_t handle;
  uint32_t priority;
  std::string kind;
  uint32_t program_id;
  std::string name;
};

void ParseFilterOptions(const struct rtattr* options, Filter& filter) {
  int length = RTA_PAYLOAD(options);
  for (auto* attr = static_cast<const struct rtattr*>(RTA_DATA(options)); RTA_OK(attr, length);
       attr = RTA_NEXT(attr, length)) {
    if (attr->rta_type == TCA_BPF_ID) filter.program_id = *static_cast<const uint32_t*>(RTA_DATA(attr));
    if (attr->rta_type == TCA_BPF_NAME) filter.name = static_cast<const char*>(RTA_DATA(attr));
  }
}

// One RTM_NEWTFILTER message; the kernel also sends a handle-0 entry for each
// classifier instance itself, which is no filter.
void ParseFilter(const struct nlmsghdr* message, std::vector<Filter>& filters) {
  auto* tc = static_cast<const struct tcmsg*>(NLMSG_DATA(message));
  if (tc->tcm_handle == 0) return;
  Filter filter = {tc->tcm_handle, TC_H_MAJ(tc->tcm_info) >> 16, "", 0, ""};
  int length = message->nlmsg_len - NLMSG_LENGTH(sizeof(*tc));
  for (auto* attr = TCA_RTA(tc); RTA_OK(attr, length); attr = RTA_NEXT(attr, length)) {
    if (attr->rta_type == TCA_KIND) filter.kind = static_cast<const char*>(RTA_DATA(attr));
    if (attr->rta_type == TCA_OPTIONS) ParseFilterOptions(attr, filter);
  }
  filters.push_back(filter);
}

// Dumps the filters under one clsact hook. ENOENT/EINVAL from the kernel mean there
// is no clsact qdisc, hence no filters.
std::vector<Filter> DumpFilters(Napi::Env env, uint32_t ifindex, bool ingress) {
  int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (sock < 0) ThrowBpfError(env, "socket(NETLINK_ROUTE)", errno);
  struct {
    struct nlmsghdr header;
    struct tcmsg tc;
  } request = {};
  request.header.nlmsg_len = sizeof(request);
  request.header.nlmsg_type = RTM_GETTFILTER;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = 1;
  request.tc.tcm_family = AF_UNSPEC;
  request.tc.tcm_ifindex = ifindex;
  request.tc.tcm_parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
  if (send(sock, &request, sizeof(request), 0) < 0) {
    int error = errno;
    close(sock);
    ThrowBpfError(env, "send(RTM_GETTFILTER)", error);
  }
  std::vector<Filter> filters;
  std::vector<char> buffer(64 * 1024);
  int error = 0;
  for (bool done = false; !done && error == 0;) {
    ssize_t received = recv(sock, buffer.data(), buffer.size(), 0);
    if (received < 0) {
      error = errno;
      break;
    }
    int length = received;
    for (auto* message = reinterpret_cast<struct nlmsghdr*>(buffer.data()); NLMSG_OK(message, length);
         message = NLMSG_NEXT(message, length)) {
      if (message->nlmsg_type == NLMSG_DONE) done = true;
      if (message->nlmsg_type == NLMSG_ERROR) {
        error = -static_cast<struct nlmsgerr*>(NLMSG_DATA(message))->error;
        done = true;
      }
      if (message->nlmsg_type == RTM_NEWTFILTER) ParseFilter(message, filters);
    }
  }
  close(sock);
  if (error == ENOENT || error == EINVAL) return {};
  if (error != 0) ThrowBpfError(env, "RTM_GETTFILTER", error);
  return filters;
}

// tcFilters(ifindex, ingress) -> [{ handle, priority, kind, programId, name }]
Napi::Value Filters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Filter> filters = DumpFilters(env, U32Arg(info, 0), info[1].ToBoolean());
  Napi::Array result = Napi::Array::New(env, filters.size());
  for (size_t i = 0; i < filters.size(); i++) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("handle", filters[i].handle);
    entry.Set("priority", filters[i].priority);
    entry.Set("kind", filters[i].kind);
    entry.Set("programId", filters[i].program_id);
    entry.Set("name", filters[i].name);
    result.Set(i, entry);
  }
  return result;
}

// netDevices() -> [{ index, name }]: every device of the caller's network namespace, to
// look for filters on when no list of them is at hand.
Napi::Value NetDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct if_nameindex* devices = if_nameindex();
  if (devices == nullptr) ThrowBpfError(env, "if_nameindex", errno);
  Napi::Array result = Napi::Array::New(env);
  for (struct if_nameindex* device = devices; device->if_index != 0; device++) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("index", device->if_index);
    entry.Set("name", device->if_name);
    result.Set(result.Length(), entry);
  }
  if_freenameindex(devices);
  return result;
}

}  // namespace

void ExportTcFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("tcAttach", Napi::Function::New<Attach>(env));
  exports.Set("tcDetach", Napi::Function::New<Detach>(env));
  exports.Set("tcDestroyClsact", Napi::Function::New<DestroyClsact>(env));
  exports.Set("tcFilters", Napi::Function::New<Filters>(env));
  exports.Set("netDevices", Napi::Function::New<NetDevices>(env));
}

}  // namespace tsbpf
