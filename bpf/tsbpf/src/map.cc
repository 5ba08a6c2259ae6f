// Map operations on a map fd. Keys and values are raw bytes: layouts live in TypeScript.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <string.h>

#include <vector>

#include "errors.h"
#include "exports.h"

namespace tsbpf {
namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_map_info map_info = {};
  uint32_t length = sizeof(map_info);
  if (bpf_obj_get_info_by_fd(FdArg(info, 0), &map_info, &length) != 0) {
    ThrowBpfError(env, "bpf_obj_get_info_by_fd", errno);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("type", map_info.type);
  result.Set("id", map_info.id);
  result.Set("keySize", map_info.key_size);
  result.Set("valueSize", map_info.value_size);
  result.Set("maxEntries", map_info.max_entries);
  result.Set("flags", map_info.map_flags);
  result.Set("name", map_info.name);
  result.Set("btfId", map_info.btf_id);
  return result;
}

// lookup(fd, key, valueLength) -> Buffer, or null when the key is absent.
Napi::Value Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto key = BufferArg(info, 1);
  auto value = Napi::Buffer<uint8_t>::New(env, U32Arg(info, 2));
  if (bpf_map_lookup_elem(FdArg(info, 0), key.Data(), value.Data()) != 0) {
    if (errno == ENOENT) return env.Null();
    ThrowBpfError(env, "bpf_map_lookup_elem", errno);
  }
  return value;
}

Napi::Value Update(const Napi::CallbackInfo& info) {
  auto key = BufferArg(info, 1);
  auto value = BufferArg(info, 2);
  if (bpf_map_update_elem(FdArg(info, 0), key.Data(), value.Data(), U32Arg(info, 3)) != 0) {
    ThrowBpfError(info.Env(), "bpf_map_update_elem", errno);
  }
  return info.Env().Undefined();
}

// delete(fd, key) -> whether the key was there.
Napi::Value Delete(const Napi::CallbackInfo& info) {
  auto key = BufferArg(info, 1);
  if (bpf_map_delete_elem(FdArg(info, 0), key.Data()) != 0) {
    if (errno == ENOENT) return Napi::Boolean::New(info.Env(), false);
    ThrowBpfError(info.Env(), "bpf_map_delete_elem", errno);
  }
  return Napi::Boolean::New(info.Env(), true);
}

// keys(fd, keyLength, limit) -> Buffer[]. The limit bounds the walk: a hash map
// that changes under get_next_key can restart from the first bucket.
Napi::Value Keys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  uint32_t key_length = U32Arg(info, 1);
  uint32_t limit = U32Arg(info, 2);
  Napi::Array keys = Napi::Array::New(env);
  std::vector<uint8_t> previous(key_length), next(key_length);
  const void* cursor = nullptr;
  while (keys.Length() < limit) {
    if (bpf_map_get_next_key(fd, cursor, next.data()) != 0) {
      if (errno == ENOENT) break;
      ThrowBpfError(env, "bpf_map_get_next_key", errno);
    }
    keys.Set(keys.Length(), Napi::Buffer<uint8_t>::Copy(env, next.data(), key_length));
    previous.swap(next);
    cursor = previous.data();
  }
  return keys;
}

// lookupBatch(fd, keyLength, valueLength, capacity) -> { keys, values, count }, the
// whole map in chunks; the batch token of a hash map is a bucket index, of an
// array a key, so it is sized for either.
Napi::Value LookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  uint32_t key_length = U32Arg(info, 1);
  uint32_t value_length = U32Arg(info, 2);
  uint32_t capacity = U32Arg(info, 3);
  std::vector<uint8_t> keys(size_t(key_length) * capacity), values(size_t(value_length) * capacity);
  std::vector<uint8_t> in_token(key_length < 8 ? 8 : key_length), out_token(in_token.size());
  uint32_t total = 0;
  bool first = true;
  while (total < capacity) {
    uint32_t count = capacity - total;
    int result = bpf_map_lookup_batch(fd, first ? nullptr : in_token.data(), out_token.data(),
                                      keys.data() + size_t(total) * key_length,
                                      values.data() + size_t(total) * value_length, &count, nullptr);
    int error = result != 0 ? errno : 0;
    if (error != 0 && error != ENOENT) ThrowBpfError(env, "bpf_map_lookup_batch", error);
    total += count;
    if (error == ENOENT) break;
    in_token.swap(out_token);
    first = false;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), size_t(total) * key_length));
  result.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), size_t(total) * value_length));
  result.Set("count", total);
  return result;
}

// updateBatch(fd, keys, values, count, flags) -> how many were written.
Napi::Value UpdateBatch(const Napi::CallbackInfo& info) {
  auto keys = BufferArg(info, 1);
  auto values = BufferArg(info, 2);
  uint32_t count = U32Arg(info, 3);
  struct bpf_map_batch_opts options = {};
  options.sz = sizeof(options);
  options.elem_flags = U32Arg(info, 4);
  if (bpf_map_update_batch(FdArg(info, 0), keys.Data(), values.Data(), &count, &options) != 0) {
    ThrowBpfError(info.Env(), "bpf_map_update_batch", errno, std::to_string(count) + " written");
  }
  return Napi::Number::New(info.Env(), count);
}

// deleteBatch(fd, keys, count) -> how many were deleted; a missing key stops the batch.
Napi::Value DeleteBatch(const Napi::CallbackInfo& info) {
  auto keys = BufferArg(info, 1);
  uint32_t count = U32Arg(info, 2);
  if (bpf_map_delete_batch(FdArg(info, 0), keys.Data(), &count, nullptr) != 0) {
    ThrowBpfError(info.Env(), "bpf_map_delete_batch", errno, std::to_string(count) + " deleted");
  }
  return Napi::Number::New(info.Env(), count);
}

Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  int count = libbpf_num_possible_cpus();
  if (count < 0) ThrowBpfError(info.Env(), "libbpf_num_possible_cpus", -count);
  return Napi::Number::New(info.Env(), count);
}

}  // namespace

void ExportMapFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("mapInfo", Napi::Function::New<Info>(env));
  exports.Set("mapLookup", Napi::Function::New<Lookup>(env));
  exports.Set("mapUpdate", Napi::Function::New<Update>(env));
  exports.Set("mapDelete", Napi::Function::New<Delete>(env));
  exports.Set("mapKeys", Napi::Function::New<Keys>(env));
  exports.Set("mapLookupBatch", Napi::Function::New<LookupBatch>(env));
  exports.Set("mapUpdateBatch", Napi::Function::New<UpdateBatch>(env));
  exports.Set("mapDeleteBatch", Napi::Function::New<DeleteBatch>(env));
  exports.Set("possibleCpus", Napi::Function::New<PossibleCpus>(env));
}

}  // namespace tsbpf
