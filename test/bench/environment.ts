// What a benchmark run's numbers belong to: the kernel, the CPUs, the tools' versions.
import { execFileSync } from 'node:child_process';
import os from 'node:os';

import { VERSION } from '../../agent/lib/version';

export interface Environment {
  date: string;
  kernel: string;
  cpus: number;
  cpuModel: string;
  twill: string;
  tools: Record<string, string>;
  repetitions: number;
  seconds: number;
  /** The commit measured beside this build (`--previous`), if any. */
  previousBuild?: string;
}

function firstLine(command: string, args: string[]): string {
  try {
    const out = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n')[0].trim();
  } catch {
    return 'unknown';
  }
}

const debianVersion = (pkg: string): string => firstLine('dpkg-query', ['-W', '-f=${Version}', pkg]);

export function describeEnvironment(repetitions: number, seconds: number, previousBuild?: string): Environment {
  const commit = firstLine('git', ['-C', __dirname, 'rev-parse', '--short', 'HEAD']);
  return {
    date: new Date().toISOString(),
    kernel: os.release(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    twill: `${VERSION} (${commit})`,
    tools: {
      node: process.version,
      iperf3: firstLine('iperf3', ['--version']).replace(/^iperf /, ''),
      sockperf: debianVersion('sockperf'),
      'containernetworking-plugins': debianVersion('containernetworking-plugins'),
      clang: firstLine('clang', ['--version']).replace(/^.*version /, ''),
      iproute2: debianVersion('iproute2'),
    },
    repetitions,
    seconds,
    ...(previousBuild ? { previousBuild } : {}),
  };
}
