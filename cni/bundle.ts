// Writes dist/twill-cni: the plugin as one executable file an operator copies to
// /opt/cni/bin, so that a plugin run reads one file rather than resolving a dozen
// modules. The plugin is plain TypeScript over Node's built-ins: nothing native.
import fs from 'node:fs';
import path from 'node:path';

import esbuild from 'esbuild';

const root = path.resolve(__dirname, '..', '..');
const output = path.join(root, 'dist', 'twill-cni');

// esbuild hands a default import of a CommonJS module (`import fs from 'node:fs'`) a
// copy of its exports with a getter for each (fs alone has a hundred), made anew in
// every file that imports it: milliseconds of every plugin run. An import statement of
// a built-in now gets the module as it is, through a module whose only export is the
// default: a named or namespace import of one fails the build (see logOverride).
const builtinsAsTheyAre: esbuild.Plugin = {
  name: 'node-builtins-as-they-are',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => (args.kind === 'import-statement' ? { path: args.path, namespace: 'node-builtin' } : { path: args.path, external: true }));
    build.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({ contents: `export default require(${JSON.stringify(args.path)});`, loader: 'js' }));
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
    legalComments: 'none',
    logLevel: 'warning',
    logOverride: { 'import-is-undefined': 'error' },
    banner: { js: '#!/usr/bin/env node' },
    plugins: [builtinsAsTheyAre],
  })
  .then(() => fs.chmodSync(output, 0o755))
  .catch((error: Error) => {
    console.error(error.message);
    process.exitCode = 1;
  });
