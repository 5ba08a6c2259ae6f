// A TCX link: a program attached to a device hook, owned through the link's fd.
import { FdResource, openPinnedFd } from './fd';
import { native, type NativeLinkInfo } from './native';
import type { BpfProgram } from './program';

export type Direction = 'ingress' | 'egress';

export const TCX_ATTACH_TYPE: Record<Direction, number> = { ingress: 46, egress: 47 };

export type LinkInfo = NativeLinkInfo;

export class TcxLink extends FdResource {
  /** Takes ownership of a link fd. */
  constructor(fd: number, pinnedAt?: string) {
    super(fd, pinnedAt);
  }

  static openPinned(path: string): TcxLink {
    return new TcxLink(openPinnedFd(path, 'link'), path);
  }

  info(): LinkInfo {
    return native.linkInfo(this.fd);
  }

  /**
   * Swaps in another program atomically: every packet sees the old program or the
   * new one, never none. With `expected`, fails with EPERM if the link no longer runs it.
   */
  update(program: BpfProgram, expected?: BpfProgram): void {
    native.linkUpdate(this.fd, program.fd, expected ? expected.fd : -1);
  }

  /** Detaches the program from the device (even if pinned elsewhere) and drops this pin. */
  detach(): void {
    native.linkDetach(this.fd);
    this.unpin();
  }
}
