#include "object.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include <string>
#include <vector>

#include "errors.h"

namespace tsbpf {
namespace {

// One variable of the object's .rodata section, located through BTF.
struct RodataVariable {
  std::string name;
  uint32_t offset;
  uint32_t size;
};

template <typename Visit>
void ForEachRodataVariable(bpf_object* object, Visit visit) {
  const struct btf* btf = bpf_object__btf(object);
  if (btf == nullptr) return;
  int section_id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
  if (section_id < 0) return;
  const struct btf_type* section = btf__type_by_id(btf, section_id);
  const struct btf_var_secinfo* entry = btf_var_secinfos(section);
  for (int i = 0; i < btf_vlen(section); i++, entry++) {
    const struct btf_type* var = btf__type_by_id(btf, entry->type);
    visit(RodataVariable{btf__name_by_offset(btf, var->name_off), entry->offset, entry->size});
  }
}

struct bpf_map* RodataMap(bpf_object* object) {
  struct bpf_map* map;
  bpf_object__for_each_map(map, object) {
    const char* name = bpf_map__name(map);
    size_t length = strlen(name);
    if (bpf_map__is_internal(map) && length >= 7 && strcmp(name + length - 7, ".rodata") == 0) return map;
  }
  return nullptr;
}

// The object keeps its own fds; callers get a duplicate they own and close.
Napi::Value DuplicateFd(Napi::Env env, int fd, const char* op) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) ThrowBpfError(env, op, errno);
  return Napi::Number::New(env, copy);
}

}  // namespace

Napi::Function NativeObject::Define(Napi::Env env) {
  return DefineClass(env, "NativeObject",
                     {InstanceMethod<&NativeObject::Variables>("variables"),
                      InstanceMethod<&NativeObject::SetVariable>("setVariable"),
                      InstanceMethod<&NativeObject::SetMapPinPath>("setMapPinPath"),
                      InstanceMethod<&NativeObject::SetMapMaxEntries>("setMapMaxEntries"),
                      InstanceMethod<&NativeObject::Load>("load"),
                      InstanceMethod<&NativeObject::ProgramFd>("programFd"),
                      InstanceMethod<&NativeObject::MapFd>("mapFd"),
                      InstanceMethod<&NativeObject::ProgramNames>("programNames"),
                      InstanceMethod<&NativeObject::MapNames>("mapNames"),
                      InstanceMethod<&NativeObject::Close>("close")});
}

NativeObject::NativeObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeObject>(info) {
  std::string path = StringArg(info, 0);
  TakeLibbpfLog();
  object_ = bpf_object__open_file(path.c_str(), nullptr);
  if (object_ == nullptr) {
    int error = errno;
    ThrowBpfError(info.Env(), "bpf_object__open_file", error, path + "\n" + TakeLibbpfLog());
  }
}

NativeObject::~NativeObject() {
  if (object_ != nullptr) bpf_object__close(object_);
}

bpf_object* NativeObject::Open(Napi::Env env) const {
  if (object_ == nullptr) ThrowBpfError(env, "bpf_object", EBADF, "the object is closed");
  return object_;
}

Napi::Value NativeObject::Variables(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array result = Napi::Array::New(env);
  ForEachRodataVariable(Open(env), [&](const RodataVariable& variable) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", variable.name);
    entry.Set("size", variable.size);
    result.Set(result.Length(), entry);
  });
  return result;
}

Napi::Value NativeObject::SetVariable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0);
  Napi::Buffer<uint8_t> value = BufferArg(info, 1);
  bpf_object* object = Open(env);
  // After load .rodata is frozen and mapped read-only: a write would fault.
  if (loaded_) ThrowBpfError(env, "bpf_map__set_initial_value", EBUSY, "set .rodata before load");
  struct bpf_map* rodata = RodataMap(object);
  if (rodata == nullptr) ThrowBpfError(env, "bpf_map__set_initial_value", ENOENT, "the object has no .rodata");
  // libbpf 1.1 hands out the section read-only: edit a copy and set it back whole.
  size_t section_size = 0;
  auto* current = static_cast<const uint8_t*>(bpf_map__initial_value(rodata, &section_size));
  std::vector<uint8_t> data(current, current + section_size);
  bool found = false;
  ForEachRodataVariable(object, [&](const RodataVariable& variable) {
    if (variable.name != name) return;
    found = true;
    if (variable.size != value.Length() || variable.offset + variable.size > section_size) {
      ThrowBpfError(env, "bpf_map__set_initial_value", EINVAL,
                    name + " is " + std::to_string(variable.size) + " bytes");
    }
    memcpy(data.data() + variable.offset, value.Data(), value.Length());
  });
  if (!found) ThrowBpfError(env, "bpf_map__set_initial_value", ENOENT, "no .rodata variable " + name);
  int error = bpf_map__set_initial_value(rodata, data.data(), data.size());
  if (error != 0) ThrowBpfError(env, "bpf_map__set_initial_value", -error, name);
  return env.Undefined();
}

// setMapPinPath(name, path): at load, libbpf reuses the map pinned at path when its
// type, sizes and flags match, and otherwise creates it and pins it there.
Napi::Value NativeObject::SetMapPinPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0);
  std::string path = StringArg(info, 1);
  struct bpf_map* map = bpf_object__find_map_by_name(Open(env), name.c_str());
  if (map == nullptr) ThrowBpfError(env, "bpf_object__find_map_by_name", ENOENT, name);
  int error = bpf_map__set_pin_path(map, path.c_str());
  if (error != 0) ThrowBpfError(env, "bpf_map__set_pin_path", -error, path);
  return env.Undefined();
}

// setMapMaxEntries(name, count): sizes a map before load; libbpf refuses once loaded.
Napi::Value NativeObject::SetMapMaxEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0);
  uint32_t max_entries = U32Arg(info, 1);
  struct bpf_map* map = bpf_object__find_map_by_name(Open(env), name.c_str());
  if (map == nullptr) ThrowBpfError(env, "bpf_object__find_map_by_name", ENOENT, name);
  int error = bpf_map__set_max_entries(map, max_entries);
  if (error != 0) ThrowBpfError(env, "bpf_map__set_max_entries", -error, name);
  return env.Undefined();
}

Napi::Value NativeObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* object = Open(env);
  TakeLibbpfLog();
  int error = bpf_object__load(object);
  if (error != 0) ThrowBpfError(env, "bpf_object__load", -error, TakeLibbpfLog());
  loaded_ = true;
  return env.Undefined();
}

Napi::Value NativeObject::ProgramFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0);
  struct bpf_program* program = bpf_object__find_program_by_name(Open(env), name.c_str());
  if (program == nullptr) ThrowBpfError(env, "bpf_object__find_program_by_name", ENOENT, name);
  int fd = bpf_program__fd(program);
  if (fd < 0) ThrowBpfError(env, "bpf_program__fd", -fd, name + " is not loaded");
  return DuplicateFd(env, fd, "fcntl(F_DUPFD_CLOEXEC)");
}

Napi::Value NativeObject::MapFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0);
  struct bpf_map* map = bpf_object__find_map_by_name(Open(env), name.c_str());
  if (map == nullptr) ThrowBpfError(env, "bpf_object__find_map_by_name", ENOENT, name);
  int fd = bpf_map__fd(map);
  if (fd < 0) ThrowBpfError(env, "bpf_map__fd", -fd, name + " is not loaded");
  return DuplicateFd(env, fd, "fcntl(F_DUPFD_CLOEXEC)");
}

Napi::Value NativeObject::ProgramNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array names = Napi::Array::New(env);
  struct bpf_program* program;
  bpf_object__for_each_program(program, Open(env)) {
    names.Set(names.Length(), bpf_program__name(program));
  }
  return names;
}

Napi::Value NativeObject::MapNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array names = Napi::Array::New(env);
  struct bpf_map* map;
  bpf_object__for_each_map(map, Open(env)) {
    if (!bpf_map__is_internal(map)) names.Set(names.Length(), bpf_map__name(map));
  }
  return names;
}

Napi::Value NativeObject::Close(const Napi::CallbackInfo& info) {
  if (object_ != nullptr) bpf_object__close(object_);
  object_ = nullptr;
  return info.Env().Undefined();
}

}  // namespace tsbpf
