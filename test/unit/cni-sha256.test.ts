// The plugin's own SHA-256 against Node's crypto: host veths are named by it, so a
// digest that drifted would leave veths an older plugin made unreachable to DEL and GC.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';

import { hostVethName } from '../../cni/lib/naming';
import { sha256Hex } from '../../cni/lib/sha256';

const nodeDigest = (text: string): string => crypto.createHash('sha256').update(text).digest('hex');

describe('sha256', () => {
  test('every length across the block and length-field boundaries', () => {
    const characters = Array.from({ length: 200 }, (_, i) => String.fromCharCode(33 + ((i * 37) % 94))).join('');
    for (let length = 0; length <= characters.length; length++) {
      const text = characters.slice(0, length);
      assert.equal(sha256Hex(text), nodeDigest(text), `length ${length}`);
    }
  });

  test('multi-byte UTF-8 is hashed as its bytes', () => {
    for (const text of ['é', 'pod/ŝ', '容器/eth0', '🦆'.repeat(20)]) assert.equal(sha256Hex(text), nodeDigest(text), text);
  });

  test('the FIPS 180-2 vectors', () => {
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  });

  test('host veth names are those earlier plugins gave', () => {
    const containerID = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
    assert.equal(hostVethName({ containerID, ifname: 'eth0' }), 'twdc8ed2ee06e');
  });
});
