/** A failed rtnetlink request: which operation, and the errno the kernel answered. */
export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';

  constructor(
    /** What was asked, e.g. `RTM_NEWLINK veth0`. */
    readonly op: string,
    /** The errno name, e.g. `EEXIST`, or `ETIMEDOUT` when the kernel never answered. */
    readonly errno: string,
  ) {
    super(`${op}: ${errno}`);
  }
}

// The pinned `netlink` package (0.3.0) rejects with Error('Request rejected: ENODEV')
// and Error('Timeout has been reached'); this turns them into NetlinkError.
export function toNetlinkError(op: string, error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const rejected = /^Request rejected: (\w+)/.exec(error.message);
  if (rejected) return new NetlinkError(op, rejected[1]);
  if (error.message.startsWith('Timeout')) return new NetlinkError(op, 'ETIMEDOUT');
  return error;
}
