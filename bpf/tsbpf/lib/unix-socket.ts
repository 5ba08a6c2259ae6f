// A message to a local stream socket, fire and forget (src/unix-socket.cc).
import { native } from './native';
import { requireBuffer, requireString } from './validate';

/** Hands `data` to whoever listens on the unix socket `path`; false, at once, when nobody takes all of it. */
export function sendToUnixSocket(path: string, data: Buffer): boolean {
  requireString('path', path);
  requireBuffer('data', data);
  return native.sendToUnixSocket(path, data);
}
