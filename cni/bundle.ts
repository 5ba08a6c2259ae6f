// Writes dist/twill-cni: the plugin as one executable file an operator copies to
// /opt/cni/bin. esbuild bundles the plugin (cni/main.ts) with the native addons (tsbpf,
// and the netlink package's) embedded and loaded through cni/lib/embedded-addon.ts,
// then the executable (cni/launcher.ts) with that bundle inlined as source, which it
// runs through V8's code cache (cni/lib/code-cache.ts).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

import esbuild from 'esbuild';

const root = path.resolve(__dirname, '..', '..');
const output = path.join(root, 'dist', 'twill-cni');
const common = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', legalComments: 'none', logLevel: 'warning', logOverride: { 'import-is-undefined': 'error' } } as const;

// node-gyp-build picks the binary the netlink package will load at run time.
const nodeGypBuild = require('node-gyp-build') as { path(directory: string): string };
const addons: Record<string, string> = {
  tsbpf: path.join(root, 'build', 'Release', 'tsbpf.node'),
  netlink: nodeGypBuild.path(path.dirname(require.resolve('netlink/package.json'))),
};

// Compressed, as every run reads and scans the executable and only the first writes the addons out.
function embeddedLoader(name: string, exportAs: 'module' | 'loadAddon'): string {
  const bytes = fs.readFileSync(addons[name]);
  const call = `loadEmbeddedAddon(${JSON.stringify(name)}, ${JSON.stringify(crypto.createHash('sha256').update(bytes).digest('hex'))}, ${JSON.stringify(zlib.gzipSync(bytes, { level: 9 }).toString('base64'))})`;
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

// The netlink package's index also loads the families Twill never speaks: nl80211 (its
// generated structs alone are 240 kB), generic netlink and WireGuard. The plugin gets
// them as empty modules, so it reads and runs only rtnetlink's code.
const UNUSED_NETLINK_FAMILY = /^\.\/(nl80211|genl|wg)\//;
const leaveOutUnusedNetlinkFamilies: esbuild.Plugin = {
  name: 'leave-out-unused-netlink-families',
  setup(build) {
    const index = path.join('node_modules', 'netlink', 'dist', 'index.js');
    build.onResolve({ filter: UNUSED_NETLINK_FAMILY }, (args) => (args.importer.endsWith(index) ? { path: args.path, namespace: 'unused-netlink-family' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'unused-netlink-family' }, () => ({ contents: '', loader: 'js' }));
  },
};

// esbuild hands a default import of a CommonJS module (`import fs from 'node:fs'`) a
// copy of its exports with a getter for each (fs alone has a hundred), made anew in
// every file that imports it: ~3 ms of every plugin run (measured). An import statement
// of a built-in now gets the module as it is, through a module whose only export is the
// default: a named or namespace import of one fails the build (see common's logOverride).
// require() and import() of a built-in stay as esbuild makes them.
const builtinsAsTheyAre: esbuild.Plugin = {
  name: 'node-builtins-as-they-are',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => (args.kind === 'import-statement' ? { path: args.path, namespace: 'node-builtin' } : { path: args.path, external: true }));
    build.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({ contents: `export default require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

async function bundlePlugin(): Promise<string> {
  const { outputFiles } = await esbuild.build({
    ...common,
    entryPoints: [path.join(root, 'cni', 'main.ts')],
    write: false,
    plugins: [embedAddons, leaveOutUnusedNetlinkFamilies, builtinsAsTheyAre],
    // Less to read and scan on every run; names stay, for readable stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    // The launcher runs the plugin as a vm.Script, which has no import(): require instead.
    supported: { 'dynamic-import': false },
  });
  return outputFiles[0].text;
}

async function bundleExecutable(pluginSource: string): Promise<void> {
  await esbuild.build({
    ...common,
    entryPoints: [path.join(root, 'cni', 'launcher.ts')],
    outfile: output,
    plugins: [builtinsAsTheyAre],
    define: {
      PLUGIN_SOURCE: JSON.stringify(pluginSource),
      PLUGIN_SHA256: JSON.stringify(crypto.createHash('sha256').update(pluginSource).digest('hex')),
    },
  });
  fs.chmodSync(output, 0o755);
}

bundlePlugin()
  .then(bundleExecutable)
  .catch((error: Error) => {
    console.error(error.message);
    process.exitCode = 1;
  });
