// In the bundled twill-cni the native addons travel inside the executable. Each is
// written once to a cache directory only this user can write, named by its hash, and
// loaded from there, so later runs only dlopen it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function loadEmbeddedAddon(name: string, sha256: string, base64: string): unknown {
  const uid = process.getuid?.() ?? 0;
  const directory = path.join(os.tmpdir(), `twill-cni-${uid}`);
  fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(directory);
  // Loading code from a directory someone else can write would run their code as root.
  if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o077) !== 0) {
    throw new Error(`${directory} must be a directory owned by uid ${uid} with mode 0700 to hold the plugin's native code`);
  }
  const file = path.join(directory, `${name}-${sha256.slice(0, 16)}.node`);
  if (!fs.existsSync(file)) {
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, Buffer.from(base64, 'base64'), { mode: 0o500 });
    fs.renameSync(temporary, file);
  }
  const addon = { exports: {} };
  process.dlopen(addon, file);
  return addon.exports;
}
