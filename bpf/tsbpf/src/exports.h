// The free functions each source file exports to JavaScript, registered in addon.cc.
#pragma once

#include <napi.h>

namespace tsbpf {

void ExportFdFunctions(Napi::Env env, Napi::Object exports);
void ExportMapFunctions(Napi::Env env, Napi::Object exports);
void ExportProgramFunctions(Napi::Env env, Napi::Object exports);
void ExportLinkFunctions(Napi::Env env, Napi::Object exports);
void ExportTcFunctions(Napi::Env env, Napi::Object exports);
void ExportNetnsFunctions(Napi::Env env, Napi::Object exports);

}  // namespace tsbpf
