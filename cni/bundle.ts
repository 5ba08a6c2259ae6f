// Writes dist/twill-cni: the plugin as one executable file an operator copies to
// /opt/cni/bin. esbuild bundles the TypeScript; the native addons (tsbpf, and the
// netlink package's) are embedded and loaded through cni/lib/embedded-addon.ts.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import esbuild from 'esbuild';

const root = path.resolve(__dirname, '..', '..');
const output = path.join(root, 'dist', 'twill-cni');

// node-gyp-build picks the binary the netlink package will load at run time.
const nodeGypBuild = require('node-gyp-build') as { path(directory: string): string };
const addons: Record<string, string> = {
  tsbpf: path.join(root, 'build', 'Release', 'tsbpf.node'),
  netlink: nodeGypBuild.path(path.dirname(require.resolve('netlink/package.json'))),
};

function embeddedLoader(name: string, exportAs: 'module' | 'loadAddon'): string {
  const bytes = fs.readFileSync(addons[name]);
  const call = `loadEmbeddedAddon(${JSON.stringify(name)}, ${JSON.stringify(crypto.createHash('sha256').update(bytes).digest('hex'))}, ${JSON.stringify(bytes.toString('base64'))})`;
  const loader = JSON.stringify(path.join(root, 'cni', 'lib', 'embedded-addon.ts'));
  // The netlink package calls require('node-gyp-build')(dir); tsbpf calls loadAddon().
  const body = exportAs === 'module' ? `module.exports = () => ${call};` : `exports.loadAddon = () => ${call};`;
  return `const { loadEmbeddedAddon } = require(${loader});\n${body}\n`;
}

const embedAddons: esbuild.Plugin = {
  name: 'embed-native-addons',
  setup(build) {
    build.onResolve({ filter: /^node-gyp-build$/ }, () => ({ path: 'netlink', namespace: 'embedded-addon' }));
    build.onResolve({ filter: /^\.\/addon$/ }, (args) =>
      args.importer.includes(path.join('bpf', 'tsbpf', 'lib')) ? { path: 'tsbpf', namespace: 'embedded-addon' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'embedded-addon' }, (args) => ({
      contents: embeddedLoader(args.path, args.path === 'netlink' ? 'module' : 'loadAddon'),
      resolveDir: root,
      loader: 'js',
    }));
  },
};

esbuild
  .build({
    entryPoints: [path.join(root, 'cni', 'main.ts')],
    outfile: output,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    plugins: [embedAddons],
    legalComments: 'none',
    logLevel: 'warning',
  })
  .then(() => fs.chmodSync(output, 0o755))
  .catch(() => {
    process.exitCode = 1;
  });
