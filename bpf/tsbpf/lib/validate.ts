// Argument checks that run before any call reaches C++, so misuse is a TypeError
// naming the argument rather than a crash or an errno.

export function requireString(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${name} must be a non-empty string`);
  }
}

export function requireU32(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new TypeError(`${name} must be an integer from 0 to 2^32-1`);
  }
}

export function requirePositive(name: string, value: unknown): asserts value is number {
  requireU32(name, value);
  if (value === 0) throw new TypeError(`${name} must be at least 1`);
}

export function requireBuffer(name: string, value: unknown, length?: number): asserts value is Buffer {
  if (!Buffer.isBuffer(value)) throw new TypeError(`${name} must be a Buffer`);
  if (length !== undefined && value.length !== length) {
    throw new TypeError(`${name} must be ${length} bytes, got ${value.length}`);
  }
}

export function requireOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): asserts value is T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new TypeError(`${name} must be one of ${allowed.join(', ')}`);
  }
}
