// tsbpf: a thin synchronous binding over the system libbpf. Each file registers its
// functions here; TypeScript (bpf/tsbpf/lib) validates arguments and owns the fds.
#include <napi.h>

#include "errors.h"
#include "exports.h"
#include "object.h"

namespace tsbpf {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  CaptureLibbpfLog();
  exports.Set("setErrorFactory", Napi::Function::New<SetErrorFactory>(env));
  exports.Set("NativeObject", NativeObject::Define(env));
  ExportFdFunctions(env, exports);
  ExportMapFunctions(env, exports);
  ExportProgramFunctions(env, exports);
  ExportLinkFunctions(env, exports);
  ExportTcFunctions(env, exports);
  ExportNetnsFunctions(env, exports);
  return exports;
}

NODE_API_MODULE(tsbpf, Init)

}  // namespace tsbpf
