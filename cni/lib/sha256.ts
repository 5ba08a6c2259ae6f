// SHA-256 (FIPS 180-4) in plain TypeScript, for the few dozen bytes a host veth is named
// by. Node's crypto module costs a plugin run ~5 ms to load and set up (measured) for
// one digest of an attachment; this costs microseconds, and gives the same digest.

// The first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const ROUND_CONSTANTS = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74,
  0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d,
  0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e,
  0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
  0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// The first 32 bits of the fractional parts of the square roots of the first 8 primes.
const INITIAL_HASH = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

const BLOCK_BYTES = 64;
const LENGTH_BYTES = 8;

const rotateRight = (word: number, bits: number): number => (word >>> bits) | (word << (32 - bits));

/** The message, a 1 bit, zeros, and its length in bits: whole 64-byte blocks. */
function padded(message: Buffer): Buffer {
  const blocks = Math.ceil((message.length + 1 + LENGTH_BYTES) / BLOCK_BYTES);
  const bytes = Buffer.alloc(blocks * BLOCK_BYTES);
  message.copy(bytes);
  bytes[message.length] = 0x80;
  bytes.writeBigUInt64BE(BigInt(message.length) * 8n, bytes.length - LENGTH_BYTES);
  return bytes;
}

/** sha256 of `text` as UTF-8, as 64 lowercase hex digits (what crypto's digest('hex') gives). */
export function sha256Hex(text: string): string {
  const bytes = padded(Buffer.from(text, 'utf8'));
  const hash = Uint32Array.from(INITIAL_HASH);
  // Sums are kept below 2^53 and reduced modulo 2^32 by `>>> 0` or by a Uint32Array store.
  const schedule = new Uint32Array(64);
  for (let block = 0; block < bytes.length; block += BLOCK_BYTES) {
    for (let i = 0; i < 16; i++) schedule[i] = bytes.readUInt32BE(block + i * 4);
    for (let i = 16; i < 64; i++) {
      const early = schedule[i - 15];
      const late = schedule[i - 2];
      const sigma0 = rotateRight(early, 7) ^ rotateRight(early, 18) ^ (early >>> 3);
      const sigma1 = rotateRight(late, 17) ^ rotateRight(late, 19) ^ (late >>> 10);
      schedule[i] = schedule[i - 16] + sigma0 + schedule[i - 7] + sigma1;
    }
    let [a, b, c, d, e, f, g, h] = hash;
    for (let i = 0; i < 64; i++) {
      const sum1 = rotateRight(e, 6) ^ rotateRight(e, 11) ^ rotateRight(e, 25);
      const choice = (e & f) ^ (~e & g);
      const temporary1 = h + sum1 + choice + ROUND_CONSTANTS[i] + schedule[i];
      const sum0 = rotateRight(a, 2) ^ rotateRight(a, 13) ^ rotateRight(a, 22);
      const majority = (a & b) ^ (a & c) ^ (b & c);
      [h, g, f, e, d, c, b, a] = [g, f, e, (d + temporary1) >>> 0, c, b, a, (temporary1 + sum0 + majority) >>> 0];
    }
    [a, b, c, d, e, f, g, h].forEach((word, i) => (hash[i] += word));
  }
  return Array.from(hash, (word) => word.toString(16).padStart(8, '0')).join('');
}
