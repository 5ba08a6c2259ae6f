/** A failed kernel or libbpf call: which operation, and the errno it returned. */
export class BpfError extends Error {
  override readonly name = 'BpfError';

  constructor(
    /** The syscall or libbpf function that failed, e.g. `bpf_map_update_elem`. */
    readonly op: string,
    /** The errno name, e.g. `E2BIG`. */
    readonly errno: string,
    /** The errno number, for callers that switch on it. */
    readonly errnoNumber: number,
    /** What the operation was about (a path, a name) or libbpf's own log. */
    readonly detail = '',
  ) {
    super(`${op}: ${errno}${detail ? ` (${detail.trim()})` : ''}`);
  }
}

/** The network namespace path does not exist; DEL treats this as already cleaned up. */
export class NetnsNotFound extends Error {
  override readonly name = 'NetnsNotFound';

  constructor(readonly path: string) {
    super(`network namespace ${path} does not exist`);
  }
}
