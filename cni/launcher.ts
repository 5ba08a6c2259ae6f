#!/usr/bin/env node
// dist/twill-cni, the executable a container runtime runs: the plugin (main.ts and
// everything it imports) is inlined here as source by bundle.ts, and run through V8's
// code cache (lib/code-cache.ts).
import { COMMANDS } from './lib/args';
import { runPluginBundle } from './lib/code-cache';

/** Defined by bundle.ts. */
declare const PLUGIN_SOURCE: string;
declare const PLUGIN_SHA256: string;

// The command only names the cache; main.ts reads and checks the environment itself.
const command = COMMANDS.find((name) => name === process.env.CNI_COMMAND);
runPluginBundle({ source: PLUGIN_SOURCE, sha256: PLUGIN_SHA256 }, command, { module, require });
