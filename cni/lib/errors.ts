// CNI errors: the spec's codes, and the error a command throws for main to print.

/** The well-known error codes of the CNI spec (1.1.0), plus Twill's own (100+). */
export const Code = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  /** CHECK found the pod's network differs from what ADD set up. */
  CheckFailed: 100,
  /** A failure the plugin did not anticipate (a bug): the message says what threw. */
  Internal: 101,
} as const;

export type CodeValue = (typeof Code)[keyof typeof Code];

export class CniError extends Error {
  override readonly name = 'CniError';

  constructor(
    readonly code: CodeValue,
    /** One line saying what is wrong, naming the field or resource at fault. */
    readonly msg: string,
    readonly details = '',
  ) {
    super(msg);
  }
}

interface KernelError {
  name: string;
  op?: string;
  errno?: string;
  path?: string;
}

/**
 * Any thrown value as a CniError. Kernel failures are told apart by name, so that
 * main does not have to load the native binding just to report an error.
 */
export function asCniError(error: unknown): CniError {
  if (error instanceof CniError) return error;
  const failure = error as KernelError;
  if (failure?.name === 'NetnsNotFound') return new CniError(Code.InvalidEnvironment, `CNI_NETNS ${failure.path} does not exist`);
  if (failure?.name === 'BpfError' && failure.op === 'setns') return new CniError(Code.InvalidEnvironment, `CNI_NETNS is not a network namespace (setns: ${failure.errno})`);
  if (failure?.name === 'BpfError' || failure?.name === 'NetlinkError') return new CniError(Code.IoFailure, (error as Error).message);
  return new CniError(Code.Internal, `unexpected failure: ${error instanceof Error ? error.message : String(error)}`);
}
