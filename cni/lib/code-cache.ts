// Runs the plugin bundle from V8's code cache. Parsing and compiling its few hundred
// kilobytes of JavaScript cost every plugin run some 20 ms (measured), so the first
// successful run of each command stores what V8 compiled for it, the functions it
// compiled along the way included, and later runs of that command deserialize it.
// A cache is ignored, and replaced by the next successful run, when it is damaged or
// V8 rejects it (another V8 version, flags or source).
import fs from 'node:fs';
import path from 'node:path';
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

// V8 does not checksum a code cache in release builds, and a damaged one can crash it.
// A cache file holds V8's bytes twice, and is used only when both copies match: a torn
// or damaged file is caught by one comparison, where a digest would load Node's crypto
// module (~5 ms a run, measured) and V8's own checksum flag would make Node compile its
// built-ins from source.
function seal(data: Buffer): Buffer {
  return Buffer.concat([data, data]);
}

function unseal(stored: Buffer): Buffer | undefined {
  const half = stored.length / 2;
  if (half === 0 || !Number.isInteger(half)) return undefined;
  const data = stored.subarray(0, half);
  return data.equals(stored.subarray(half)) ? data : undefined;
}

function readCache(bundle: PluginBundle, variant: string): Buffer | undefined {
  const directory = existingPrivateCacheDirectory();
  if (!directory) return undefined;
  try {
    return unseal(fs.readFileSync(cacheFile(directory, bundle, variant)));
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
      writeAtomically(cacheFile(directory, bundle, variant), seal(script.createCachedData()), 0o600);
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
  const cachedData = variant === undefined ? undefined : readCache(bundle, variant);
  const filename = scope.module.filename;
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${bundle.source}\n})`, { filename, cachedData });
  if (variant !== undefined && (cachedData === undefined || script.cachedDataRejected)) storeOnSuccess(script, bundle, variant);
  const run = script.runInThisContext() as ModuleFunction;
  run(scope.module.exports, scope.require, scope.module, filename, path.dirname(filename));
}
