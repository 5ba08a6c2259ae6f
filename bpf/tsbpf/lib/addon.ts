// Loads the compiled addon from build/Release, or from TSBPF_ADDON where an image
// keeps it elsewhere.
import path from 'node:path';

export function loadAddon(): unknown {
  // dist/bpf/tsbpf/lib -> the repository root, where node-gyp writes build/Release.
  return require(process.env.TSBPF_ADDON ?? path.join(__dirname, '..', '..', '..', '..', 'build', 'Release', 'tsbpf.node'));
}
