// An opened ELF object: its .rodata settings, load, and the fds of its programs and maps.
#pragma once

#include <napi.h>

struct bpf_object;

namespace tsbpf {

class NativeObject : public Napi::ObjectWrap<NativeObject> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeObject(const Napi::CallbackInfo& info);
  ~NativeObject() override;

 private:
  Napi::Value Variables(const Napi::CallbackInfo& info);
  Napi::Value SetVariable(const Napi::CallbackInfo& info);
  Napi::Value SetMapPinPath(const Napi::CallbackInfo& info);
  Napi::Value SetMapMaxEntries(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value ProgramFd(const Napi::CallbackInfo& info);
  Napi::Value MapFd(const Napi::CallbackInfo& info);
  Napi::Value ProgramNames(const Napi::CallbackInfo& info);
  Napi::Value MapNames(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bpf_object* Open(Napi::Env env) const;

  bpf_object* object_ = nullptr;
  bool loaded_ = false;
};

}  // namespace tsbpf
