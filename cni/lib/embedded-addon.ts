// In the bundled twill-cni the native addons travel inside the executable, gzipped.
// Each is written once to the private cache directory, named by its hash, and loaded
// from there, so later runs only dlopen it.
import fs from 'node:fs';
import path from 'node:path';

import { privateCacheDirectory, writeAtomically } from './private-cache';

function gunzip(base64: string): Buffer {
  // Loaded here, not at the top: only the first run on a node unpacks anything.
  const zlib = require('node:zlib') as typeof import('node:zlib');
  return zlib.gunzipSync(Buffer.from(base64, 'base64'));
}

export function loadEmbeddedAddon(name: string, sha256: string, gzipBase64: string): unknown {
  const file = path.join(privateCacheDirectory(), `${name}-${sha256.slice(0, 16)}.node`);
  if (!fs.existsSync(file)) writeAtomically(file, gunzip(gzipBase64), 0o500);
  const addon = { exports: {} };
  process.dlopen(addon, file);
  return addon.exports;
}
