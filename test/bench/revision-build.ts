// An earlier revision of Twill, built to be measured beside this one in the same run:
// a git worktree of that commit in a temporary directory, installed and built as CI
// builds it, and removed (worktree and all) when the benchmark ends.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { repoRoot } from '../helpers/kernel';

export interface RevisionBuild {
  root: string;
  remove(): void;
}

// Installing and building a tree takes a minute or two here; ten is a hung build.
const BUILD_TIMEOUT_MS = 600_000;

function git(args: string[]): string {
  return execFileSync('git', ['-C', repoRoot, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** The short commit `revision` names, checked before anything is built. */
export function resolveRevision(revision: string): string {
  try {
    return git(['rev-parse', '--short', '--verify', `${revision}^{commit}`]);
  } catch {
    throw new Error(`--previous ${revision}: not a commit of the repository at ${repoRoot}`);
  }
}

export function buildRevision(commit: string, log: (line: string) => void): RevisionBuild {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `twill-${commit}-`));
  const remove = (): void => {
    try {
      git(['worktree', 'remove', '--force', root]);
    } catch {
      // Never added: only the directory is left.
    }
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    git(['worktree', 'add', '--detach', root, commit]);
    log(`building ${commit} in ${root}`);
    // npm's and the compilers' chatter goes to stderr, beside the benchmark's own log.
    const inTree = { cwd: root, stdio: ['ignore', 2, 2] as Array<'ignore' | number>, timeout: BUILD_TIMEOUT_MS };
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], inTree);
    execFileSync('npm', ['run', 'build'], inTree);
  } catch (error) {
    remove();
    throw new Error(`building ${commit} to compare with failed: ${(error as Error).message}`);
  }
  return { root, remove };
}
