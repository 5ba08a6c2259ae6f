// Failure reporting shared by every tsbpf call.
#pragma once

#include <napi.h>

#include <string>

namespace tsbpf {

// Throws the TypeScript-defined BpfError (installed by setErrorFactory) for a
// failed kernel or libbpf operation. errno_value is a positive errno.
[[noreturn]] void ThrowBpfError(Napi::Env env, const char* op, int errno_value,
                                const std::string& detail = "");

// setErrorFactory(fn): fn(op, errnoName, errno, detail) returns the error to throw.
Napi::Value SetErrorFactory(const Napi::CallbackInfo& info);

// libbpf prints its warnings (verifier logs included) through a callback; we keep
// the tail of them so a failed load can say why.
void CaptureLibbpfLog();
std::string TakeLibbpfLog();

// Argument helpers: TypeScript validates first, these only guard the C++ side.
int FdArg(const Napi::CallbackInfo& info, size_t index);
uint32_t U32Arg(const Napi::CallbackInfo& info, size_t index);
std::string StringArg(const Napi::CallbackInfo& info, size_t index);
Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t index);

}  // namespace tsbpf
