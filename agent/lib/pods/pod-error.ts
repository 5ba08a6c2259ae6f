// A request the agent refuses or cannot complete, with the CNI code the plugin prints.
import { Code, type CodeValue } from '../../api/cni';

export class PodError extends Error {
  override readonly name = 'PodError';

  constructor(
    readonly code: CodeValue,
    /** One line naming the field or resource at fault. */
    readonly msg: string,
  ) {
    super(msg);
  }
}

interface KernelError {
  name: string;
  op?: string;
  errno?: string;
  path?: string;
  /** Node's file system errors: the system call, or ERR_FS_* for what Node refuses itself. */
  syscall?: string;
  code?: string;
}

/** Any thrown value as a PodError: kernel and file system refusals are I/O failures, a missing namespace the runtime's. */
export function asPodError(error: unknown): PodError {
  if (error instanceof PodError) return error;
  const failure = error as KernelError;
  if (failure?.name === 'NetnsNotFound') return new PodError(Code.InvalidEnvironment, `CNI_NETNS ${failure.path} does not exist`);
  if (failure?.name === 'BpfError' && failure.op === 'setns') {
    // EPERM is the agent's own lack of CAP_SYS_ADMIN, not the runtime's namespace.
    if (failure.errno === 'EPERM') return new PodError(Code.IoFailure, 'the agent may not enter pod network namespaces (setns: EPERM): it needs CAP_SYS_ADMIN');
    return new PodError(Code.InvalidEnvironment, `CNI_NETNS is not a network namespace (setns: ${failure.errno})`);
  }
  if (failure?.name === 'BpfError' || failure?.name === 'NetlinkError' || failure?.syscall !== undefined || failure?.code?.startsWith('ERR_FS_')) {
    return new PodError(Code.IoFailure, (error as Error).message);
  }
  return new PodError(Code.Internal, `unexpected failure: ${error instanceof Error ? error.message : String(error)}`);
}
