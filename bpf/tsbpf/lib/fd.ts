// The one owner of a kernel object's fd: explicit close(), pin and unpin, with a
// finalizer only as a backstop for an fd its owner forgot.
import fs from 'node:fs';

import { BpfError } from './errors';
import { native } from './native';
import { requireString } from './validate';

export type FdKind = 'map' | 'program' | 'link';

const leakedFds = new FinalizationRegistry<number>((fd) => {
  try {
    native.closeFd(fd);
  } catch {
    // The process is tidying up after a leak; there is no one left to tell.
  }
});

/** Opens a pinned object and checks that it is of the kind the caller expects. */
export function openPinnedFd(path: string, kind: FdKind): number {
  requireString('path', path);
  const fd = native.objGet(path);
  const actual = native.fdKind(fd);
  if (actual !== kind) {
    native.closeFd(fd);
    throw new BpfError('bpf_obj_get', 'EINVAL', 22, `${path} is a ${actual}, not a ${kind}`);
  }
  return fd;
}

export abstract class FdResource {
  #fd: number;
  #pinnedAt: string | undefined;

  protected constructor(fd: number, pinnedAt?: string) {
    this.#fd = fd;
    this.#pinnedAt = pinnedAt;
    leakedFds.register(this, fd, this);
  }

  /** The fd, valid until close(). */
  get fd(): number {
    if (this.#fd < 0) throw new BpfError('fd', 'EBADF', 9, `${this.constructor.name} is closed`);
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Where this object was last pinned or opened from, if anywhere. */
  get pinnedAt(): string | undefined {
    return this.#pinnedAt;
  }

  /** Pins the object in bpffs so it outlives this process. */
  pin(path: string): void {
    requireString('path', path);
    native.objPin(this.fd, path);
    this.#pinnedAt = path;
  }

  /** Removes the pin made by pin() or opened by openPinned(); a missing pin is fine. */
  unpin(): void {
    if (this.#pinnedAt === undefined) return;
    fs.rmSync(this.#pinnedAt, { force: true });
    this.#pinnedAt = undefined;
  }

  close(): void {
    if (this.#fd < 0) return;
    leakedFds.unregister(this);
    const fd = this.#fd;
    this.#fd = -1;
    native.closeFd(fd);
  }
}
