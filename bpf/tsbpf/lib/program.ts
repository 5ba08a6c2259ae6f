// A loaded BPF program through its fd, and BPF_PROG_TEST_RUN.
import { FdResource, openPinnedFd } from './fd';
import { native, type NativeProgramInfo } from './native';
import { requireBuffer, requirePositive, requireU32 } from './validate';

export type ProgramInfo = NativeProgramInfo;

export interface TestRunOptions {
  /** How many times the kernel runs the program; durationNs is the mean. Default 1. */
  repeat?: number;
  /** A struct __sk_buff (or the program type's context) passed in and read back. */
  context?: Buffer;
  /** Room for the output packet; default the input size plus 256 bytes of headroom for encapsulation. */
  outputCapacity?: number;
}

export interface TestRunResult {
  /** The program's return value (for TC: TC_ACT_OK = 0, TC_ACT_SHOT = 2, TC_ACT_REDIRECT = 7). */
  retval: number;
  /** The packet as the program left it. */
  packet: Buffer;
  /** Mean nanoseconds per run. */
  durationNs: number;
  /** The context as the program left it, when one was passed in. */
  context?: Buffer;
}

export class BpfProgram extends FdResource {
  readonly info: ProgramInfo;

  /** Takes ownership of a program fd. */
  constructor(fd: number, pinnedAt?: string) {
    super(fd, pinnedAt);
    this.info = native.programInfo(fd);
  }

  static openPinned(path: string): BpfProgram {
    return new BpfProgram(openPinnedFd(path, 'program'), path);
  }

  testRun(packet: Buffer, options: TestRunOptions = {}): TestRunResult {
    requireBuffer('packet', packet);
    const repeat = options.repeat ?? 1;
    requirePositive('repeat', repeat);
    const outputCapacity = options.outputCapacity ?? packet.length + 256;
    requireU32('outputCapacity', outputCapacity);
    if (options.context !== undefined) requireBuffer('context', options.context);
    const run = native.programTestRun(this.fd, packet, repeat, outputCapacity, options.context ?? null);
    return {
      retval: run.retval,
      packet: run.packet,
      durationNs: run.durationNs,
      ...(run.context ? { context: run.context } : {}),
    };
  }
}
