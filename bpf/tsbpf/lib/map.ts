// A BPF map through its fd. Keys and values are Buffers laid out as the C side
// defines them; codecs for Twill's own maps live next to their C definitions.
import { FdResource, openPinnedFd } from './fd';
import { native, type NativeMapInfo } from './native';
import { requireBuffer, requireOneOf } from './validate';

/** BPF_ANY, BPF_NOEXIST, BPF_EXIST. */
export type UpdateMode = 'any' | 'noexist' | 'exist';
const updateFlags: Record<UpdateMode, number> = { any: 0, noexist: 1, exist: 2 };
const updateModes = Object.keys(updateFlags) as UpdateMode[];

// Per-CPU map types hold one value per possible CPU, each padded to 8 bytes.
const PER_CPU_TYPES = new Set([5 /* PERCPU_HASH */, 6 /* PERCPU_ARRAY */, 10 /* LRU_PERCPU_HASH */, 21 /* PERCPU_CGROUP_STORAGE */]);

export type MapInfo = NativeMapInfo;

export class BpfMap extends FdResource {
  readonly info: MapInfo;
  /** Bytes per lookup/update value: valueSize, or one padded slot per CPU. */
  readonly valueLength: number;
  /** For per-CPU maps, the number of per-CPU slots in a value; 1 otherwise. */
  readonly cpuSlots: number;

  /** Takes ownership of a map fd. */
  constructor(fd: number, pinnedAt?: string) {
    super(fd, pinnedAt);
    this.info = native.mapInfo(fd);
    const perCpu = PER_CPU_TYPES.has(this.info.type);
    this.cpuSlots = perCpu ? native.possibleCpus() : 1;
    this.valueLength = perCpu ? Math.ceil(this.info.valueSize / 8) * 8 * this.cpuSlots : this.info.valueSize;
  }

  static openPinned(path: string): BpfMap {
    return new BpfMap(openPinnedFd(path, 'map'), path);
  }

  /** The value for key, or undefined when the key is absent. */
  lookup(key: Buffer): Buffer | undefined {
    this.#checkKey(key);
    return native.mapLookup(this.fd, key, this.valueLength) ?? undefined;
  }

  update(key: Buffer, value: Buffer, mode: UpdateMode = 'any'): void {
    this.#checkKey(key);
    requireBuffer('value', value, this.valueLength);
    requireOneOf('mode', mode, updateModes);
    native.mapUpdate(this.fd, key, value, updateFlags[mode]);
  }

  /** Whether the key was present. */
  delete(key: Buffer): boolean {
    this.#checkKey(key);
    return native.mapDelete(this.fd, key);
  }

  /** Every key, walked with get_next_key (bounded by max_entries). */
  keys(): Buffer[] {
    return native.mapKeys(this.fd, this.info.keySize, this.info.maxEntries);
  }

  /** Every entry in as few syscalls as the kernel allows (BPF_MAP_LOOKUP_BATCH). */
  lookupBatch(): Array<[Buffer, Buffer]> {
    const { keys, values, count } = native.mapLookupBatch(this.fd, this.info.keySize, this.valueLength, this.info.maxEntries);
    const entries: Array<[Buffer, Buffer]> = [];
    for (let i = 0; i < count; i++) {
      entries.push([
        keys.subarray(i * this.info.keySize, (i + 1) * this.info.keySize),
        values.subarray(i * this.valueLength, (i + 1) * this.valueLength),
      ]);
    }
    return entries;
  }

  /** Writes all entries in one BPF_MAP_UPDATE_BATCH; returns how many were written. */
  updateBatch(entries: Array<[Buffer, Buffer]>, mode: UpdateMode = 'any'): number {
    requireOneOf('mode', mode, updateModes);
    entries.forEach(([key, value], i) => {
      requireBuffer(`entries[${i}] key`, key, this.info.keySize);
      requireBuffer(`entries[${i}] value`, value, this.valueLength);
    });
    if (entries.length === 0) return 0;
    const keys = Buffer.concat(entries.map(([key]) => key));
    const values = Buffer.concat(entries.map(([, value]) => value));
    return native.mapUpdateBatch(this.fd, keys, values, entries.length, updateFlags[mode]);
  }

  /** Deletes all keys in one BPF_MAP_DELETE_BATCH; a missing key fails with ENOENT. */
  deleteBatch(keys: Buffer[]): number {
    keys.forEach((key, i) => requireBuffer(`keys[${i}]`, key, this.info.keySize));
    if (keys.length === 0) return 0;
    return native.mapDeleteBatch(this.fd, Buffer.concat(keys), keys.length);
  }

  /** Splits a per-CPU value into its per-CPU slots (each valueSize bytes). */
  perCpuValues(value: Buffer): Buffer[] {
    requireBuffer('value', value, this.valueLength);
    const stride = this.valueLength / this.cpuSlots;
    return Array.from({ length: this.cpuSlots }, (_, cpu) => value.subarray(cpu * stride, cpu * stride + this.info.valueSize));
  }

  #checkKey(key: Buffer): void {
    requireBuffer('key', key, this.info.keySize);
  }
}
