// Running synchronous work inside another network namespace.
import { BpfError, NetnsNotFound } from './errors';
import { native } from './native';

/**
 * Runs `fn` on this thread inside the network namespace at `target` (a path such as
 * /var/run/netns/pod1, or an open fd) and switches back before returning, also when
 * `fn` throws. `fn` must be synchronous: anything after an `await` would run back in
 * the caller's namespace. Sockets created inside stay bound to the target namespace.
 */
export function withNetns<T>(target: string | number, fn: () => T): T {
  if (typeof target === 'string' ? target.length === 0 : !Number.isInteger(target) || target < 0) {
    throw new TypeError('target must be a netns path or an open fd');
  }
  if (typeof fn !== 'function') throw new TypeError('fn must be a function');
  let result: T;
  try {
    result = native.runInNetns(target, fn);
  } catch (error) {
    if (error instanceof BpfError && error.op === 'open' && error.errno === 'ENOENT' && typeof target === 'string') {
      throw new NetnsNotFound(target);
    }
    throw error;
  }
  if (result instanceof Promise) {
    throw new TypeError('withNetns callbacks must be synchronous: work after an await runs outside the namespace');
  }
  return result;
}
