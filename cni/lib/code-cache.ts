// Runs the plugin bundle from V8's code cache. Parsing and compiling its few hundred
// kilobytes of JavaScript cost every plugin run some 20 ms (measured), so the first
// successful run of each command stores what V8 compiled for it, the functions it
// compiled along the way included, and later runs of that command deserialize it.
// A cache is ignored, and replaced by the next successful run, when V8 rejects it:
// another V8 version, flags or source, or a checksum that does not match (damaged).
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

import { existingPrivateCacheDirectory, writeAtomically } from './private-cache';

export interface PluginBundle {
  /** The plugin as one CommonJS module's source. */
  source: string;
  /** sha256 of source, hex. */
  sha256: string;
}

/** What Node's own loader hands a CommonJS module. */
export interface ModuleScope {
  module: NodeJS.Module;
  require: NodeJS.Require;
}

type ModuleFunction = (exports: unknown, require: NodeJS.Require, module: NodeJS.Module, filename: string, dirname: string) => void;

// V8 matches a cache to its source by length only: the source's hash in the name does the rest.
function cacheFile(directory: string, bundle: PluginBundle, variant: string): string {
  return path.join(directory, `plugin-${bundle.sha256.slice(0, 16)}-${variant}.v8cache`);
}

// Release builds of V8 neither write nor check a code cache's checksum: with this flag
// on before the first compile, V8 does both, for a fraction of a millisecond where a
// digest of ours would load Node's crypto module (~5 ms, measured).
const CHECKSUMMED = '--verify-snapshot-checksum';

function readCache(bundle: PluginBundle, variant: string): Buffer | undefined {
  const directory = existingPrivateCacheDirectory();
  if (!directory) return undefined;
  try {
    return fs.readFileSync(cacheFile(directory, bundle, variant));
  } catch {
    return undefined;
  }
}

/**
 * Once the run has succeeded and finished, stores what it compiled, in the private
 * cache directory (made by this run's native addons, if not before). A failed run is
 * not stored: it would hold the code of the failure, not that of the command.
 */
function storeOnSuccess(script: vm.Script, bundle: PluginBundle, variant: string): void {
  process.once('beforeExit', () => {
    const directory = existingPrivateCacheDirectory();
    if (process.exitCode || !directory) return;
    try {
      writeAtomically(cacheFile(directory, bundle, variant), script.createCachedData(), 0o600);
    } catch {
      // A cache is an optimisation: a full disk must not fail a command that succeeded.
    }
  });
}

/**
 * Runs `bundle` as the module `scope`, compiled from the cache of `variant` (one per
 * command, as each compiles different code) if there is a usable one; without a
 * variant, compiled from source and not cached.
 */
export function runPluginBundle(bundle: PluginBundle, variant: string | undefined, scope: ModuleScope): void {
  v8.setFlagsFromString(CHECKSUMMED);
  const cachedData = variant === undefined ? undefined : readCache(bundle, variant);
  const filename = scope.module.filename;
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${bundle.source}\n})`, { filename, cachedData });
  if (variant !== undefined && (cachedData === undefined || script.cachedDataRejected)) storeOnSuccess(script, bundle, variant);
  const run = script.runInThisContext() as ModuleFunction;
  run(scope.module.exports, scope.require, scope.module, filename, path.dirname(filename));
}
