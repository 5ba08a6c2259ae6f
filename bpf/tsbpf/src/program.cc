// Program fds: what the kernel says of them, and BPF_PROG_TEST_RUN.
#include <bpf/bpf.h>
#include <errno.h>

#include <cstdio>
#include <string>
#include <vector>

#include "errors.h"
#include "exports.h"

namespace tsbpf {
namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_prog_info program_info = {};
  uint32_t length = sizeof(program_info);
  if (bpf_obj_get_info_by_fd(FdArg(info, 0), &program_info, &length) != 0) {
    ThrowBpfError(env, "bpf_obj_get_info_by_fd", errno);
  }
  char tag[2 * BPF_TAG_SIZE + 1];
  for (int i = 0; i < BPF_TAG_SIZE; i++) snprintf(tag + 2 * i, 3, "%02x", program_info.tag[i]);
  Napi::Object result = Napi::Object::New(env);
  result.Set("type", program_info.type);
  result.Set("id", program_info.id);
  result.Set("name", program_info.name);
  result.Set("tag", tag);
  return result;
}

// testRun(fd, packet, repeat, outputCapacity, context|null)
//   -> { retval, packet, durationNs, context|null }
// durationNs is the kernel's mean time per run over `repeat` runs.
Napi::Value TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  auto packet = BufferArg(info, 1);
  uint32_t repeat = U32Arg(info, 2);
  uint32_t output_capacity = U32Arg(info, 3);
  std::vector<uint8_t> output(output_capacity);
  std::vector<uint8_t> context_in, context_out;
  struct bpf_test_run_opts options = {};
  options.sz = sizeof(options);
  options.data_in = packet.Data();
  options.data_size_in = packet.Length();
  options.data_out = output.data();
  options.data_size_out = output_capacity;
  options.repeat = repeat;
  if (info[4].IsBuffer()) {
    auto context = info[4].As<Napi::Buffer<uint8_t>>();
    context_in.assign(context.Data(), context.Data() + context.Length());
    context_out.resize(context.Length());
    options.ctx_in = context_in.data();
    options.ctx_size_in = context_in.size();
    options.ctx_out = context_out.data();
    options.ctx_size_out = context_out.size();
  }
  if (bpf_prog_test_run_opts(fd, &options) != 0) {
    ThrowBpfError(env, "bpf_prog_test_run_opts", errno);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("retval", options.retval);
  result.Set("packet", Napi::Buffer<uint8_t>::Copy(env, output.data(), options.data_size_out));
  result.Set("durationNs", options.duration);
  if (context_out.empty()) {
    result.Set("context", env.Null());
  } else {
    result.Set("context", Napi::Buffer<uint8_t>::Copy(env, context_out.data(), options.ctx_size_out));
  }
  return result;
}

}  // namespace

void ExportProgramFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("programInfo", Napi::Function::New<Info>(env));
  exports.Set("programTestRun", Napi::Function::New<TestRun>(env));
}

}  // namespace tsbpf
