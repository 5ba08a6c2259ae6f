#include "errors.h"

#include <bpf/libbpf.h>
#include <string.h>

#include <cstdarg>
#include <cstdio>

namespace tsbpf {
namespace {

struct AddonState {
  Napi::FunctionReference error_factory;
};

// The verifier log of one failed load can be long; its tail says why.
constexpr size_t kLogLimit = 64 * 1024;
std::string libbpf_log;

int AppendLibbpfLog(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof(line), format, args);
  libbpf_log.append(line);
  if (libbpf_log.size() > kLogLimit) libbpf_log.erase(0, libbpf_log.size() - kLogLimit);
  return n;
}

}  // namespace

void CaptureLibbpfLog() { libbpf_set_print(AppendLibbpfLog); }

std::string TakeLibbpfLog() {
  std::string taken;
  taken.swap(libbpf_log);
  return taken;
}

Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorFactory needs a function");
  auto* state = info.Env().GetInstanceData<AddonState>();
  if (state == nullptr) {
    state = new AddonState();
    info.Env().SetInstanceData(state);
  }
  state->error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

void ThrowBpfError(Napi::Env env, const char* op, int errno_value, const std::string& detail) {
  const char* name = strerrorname_np(errno_value);
  std::string errno_name = name != nullptr ? name : "E" + std::to_string(errno_value);
  auto* state = env.GetInstanceData<AddonState>();
  if (state == nullptr || state->error_factory.IsEmpty()) {
    throw Napi::Error::New(env, std::string(op) + ": " + errno_name + " " + detail);
  }
  Napi::Value error = state->error_factory.Call(
      {Napi::String::New(env, op), Napi::String::New(env, errno_name),
       Napi::Number::New(env, errno_value), Napi::String::New(env, detail)});
  throw Napi::Error(env, error);
}

int FdArg(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a file descriptor");
  return info[index].As<Napi::Number>().Int32Value();
}

uint32_t U32Arg(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a number");
  return info[index].As<Napi::Number>().Uint32Value();
}

std::string StringArg(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsString()) throw Napi::TypeError::New(info.Env(), "expected a string");
  return info[index].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsBuffer()) throw Napi::TypeError::New(info.Env(), "expected a Buffer");
  return info[index].As<Napi::Buffer<uint8_t>>();
}

}  // namespace tsbpf
