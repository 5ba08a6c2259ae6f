// Loads the compiled addon from build/Release. The bundled twill-cni replaces this
// module with one that carries the addon inside the executable (cni/bundle.ts).
import path from 'node:path';

export function loadAddon(): unknown {
  // dist/bpf/tsbpf/lib -> the repository root, where node-gyp writes build/Release.
  return require(process.env.TSBPF_ADDON ?? path.join(__dirname, '..', '..', '..', '..', 'build', 'Release', 'tsbpf.node'));
}
