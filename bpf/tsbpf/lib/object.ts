// An ELF object file: set its .rodata configuration, load it, and take out its
// programs and maps as fds of their own (valid after the object is closed).
import path from 'node:path';

import { BpfMap } from './map';
import { native, type NativeObjectHandle } from './native';
import { BpfProgram } from './program';
import { requirePositive, requireString } from './validate';

export type RodataValue = number | bigint | boolean | Buffer;

/** Encodes a value into the little-endian bytes of a `const volatile` variable of `size` bytes. */
export function encodeRodata(name: string, value: RodataValue, size: number): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'number' && !Number.isInteger(value)) throw new TypeError(`${name} must be an integer`);
  const bits = BigInt(size * 8);
  const integer = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value);
  if (integer < -(1n << (bits - 1n)) || integer >= 1n << bits) {
    throw new TypeError(`${name} does not fit in ${size} bytes`);
  }
  const bytes = Buffer.alloc(size);
  let unsigned = BigInt.asUintN(Number(bits), integer);
  for (let i = 0; i < size; i++, unsigned >>= 8n) bytes[i] = Number(unsigned & 0xffn);
  return bytes;
}

export class BpfObject {
  #handle: NativeObjectHandle;
  #loaded = false;

  private constructor(handle: NativeObjectHandle) {
    this.#handle = handle;
  }

  /** Opens (does not load) a BPF ELF object. */
  static open(path: string): BpfObject {
    requireString('path', path);
    return new BpfObject(new native.NativeObject(path));
  }

  /** The `const volatile` variables in .rodata, with their sizes in bytes. */
  rodataVariables(): Array<{ name: string; size: number }> {
    return this.#handle.variables();
  }

  /** Sets a `const volatile` variable; only before load(), when the verifier will see it as a constant. */
  setRodata(name: string, value: RodataValue): this {
    requireString('name', name);
    if (this.#loaded) throw new TypeError(`cannot set ${name}: the object is already loaded`);
    const variable = this.rodataVariables().find((v) => v.name === name);
    if (!variable) throw new TypeError(`the object has no .rodata variable ${name}`);
    this.#handle.setVariable(name, encodeRodata(name, value, variable.size));
    return this;
  }

  /**
   * Sets how many entries a map holds, in place of its max_entries in the C; only before
   * load(). A map pinned with another size then fails to load rather than be reused.
   */
  setMaxEntries(name: string, maxEntries: number): this {
    requireString('name', name);
    requirePositive('maxEntries', maxEntries);
    if (this.#loaded) throw new TypeError(`cannot size ${name}: the object is already loaded`);
    if (!this.mapNames().includes(name)) throw new TypeError(`the object has no map ${name}`);
    this.#handle.setMapMaxEntries(name, maxEntries);
    return this;
  }

  /**
   * Pins every map of the object under `directory` by its name at load. A map already
   * pinned there with the same type, sizes and flags is reused with its contents, which
   * is how a restarted agent re-adopts its state; a mismatched one fails the load. Maps
   * named in `except` are created afresh at every load.
   */
  pinMapsUnder(directory: string, except: readonly string[] = []): this {
    requireString('directory', directory);
    if (this.#loaded) throw new TypeError('set map pin paths before load');
    for (const name of this.mapNames()) {
      if (!except.includes(name)) this.#handle.setMapPinPath(name, path.join(directory, name));
    }
    return this;
  }

  load(): this {
    this.#handle.load();
    this.#loaded = true;
    return this;
  }

  programNames(): string[] {
    return this.#handle.programNames();
  }

  mapNames(): string[] {
    return this.#handle.mapNames();
  }

  program(name: string): BpfProgram {
    requireString('name', name);
    return new BpfProgram(this.#handle.programFd(name));
  }

  map(name: string): BpfMap {
    requireString('name', name);
    return new BpfMap(this.#handle.mapFd(name));
  }

  /** Frees libbpf's object; programs and maps taken out stay valid until their own close(). */
  close(): void {
    this.#handle.close();
  }
}
