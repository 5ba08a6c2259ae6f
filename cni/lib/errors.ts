// The error a check throws for main to print: a code from the contract's table and one
// line naming the field or resource at fault.
import { Code, type CodeValue } from '../../agent/api/cni';

export { Code, type CodeValue };

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

/** Code 7 for a field of the network configuration, named in the message. */
export function invalidConfig(field: string, problem: string): never {
  throw new CniError(Code.InvalidConfig, `network config: ${field} ${problem}`);
}

/** Any thrown value as a CniError; anything but a CniError is a bug of the plugin's. */
export function asCniError(error: unknown): CniError {
  if (error instanceof CniError) return error;
  return new CniError(Code.Internal, `unexpected failure: ${error instanceof Error ? error.message : String(error)}`);
}
