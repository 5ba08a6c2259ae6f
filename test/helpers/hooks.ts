// What Twill attached in a node's namespace, read the way the CLI reads it, whichever
// mechanism the node's agent uses (TCX links or clsact filters).
import { pinPaths, type ProgramName } from '../../bpf/datapath';
import { listAttachments, type HookAttachment } from '../../bpf/device-hooks';
import { withNetns } from '../../bpf/tsbpf';

export function hooksIn(ns: string, bpffsRoot: string): HookAttachment[] {
  return withNetns(`/run/netns/${ns}`, () => listAttachments(pinPaths(bpffsRoot)));
}

/** `program`'s hook on `device`, if Twill holds one. */
export function hookOn(ns: string, bpffsRoot: string, program: ProgramName, device: string): HookAttachment | undefined {
  return hooksIn(ns, bpffsRoot).find((hook) => hook.program === program && hook.device === device);
}
