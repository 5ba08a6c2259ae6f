// The README's first command, until the multi-node lab exists: builds a pod-like
// namespace with the netlink layer, attaches a counting program to the host-side veth
// with tsbpf, sends pod traffic and shows the counter move. Removes everything it made.
import path from 'node:path';

import { Rtnl } from '../../bpf/netlink';
import { BpfObject, attach, detach, queryAttached, withNetns, type Attachment } from '../../bpf/tsbpf';
import { mountTestBpffs } from '../helpers/bpffs';
import { testObjects } from '../helpers/kernel';
import { TestNetns } from '../helpers/netns';

const POD_IP = '10.244.0.5';
const NODE_IP = '192.168.50.1';
const GATEWAY = '169.254.1.1';
const PINGS = 5;

function packetCount(value: Buffer | undefined): { packets: bigint; bytes: bigint } {
  return { packets: value?.readBigUInt64LE(0) ?? 0n, bytes: value?.readBigUInt64LE(8) ?? 0n };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the demo creates namespaces and loads BPF programs: run it as root (sudo npm run lab)');
  console.log('Twill foundation demo: one node, one pod, a TC program counting the pod\'s traffic\n');
  const bpffs = mountTestBpffs();
  const nodeNs = new TestNetns('demonode');
  const podNs = new TestNetns('demopod');
  const object = BpfObject.open(path.join(testObjects, 'counter.bpf.o')).load();
  const program = object.program('count_first');
  const counts = object.map('counts');
  const node = Rtnl.open(nodeNs.path);
  const pod = Rtnl.open(podNs.path);
  let attachment: Attachment | undefined;
  try {
    nodeNs.exec('ip', ['addr', 'add', `${NODE_IP}/32`, 'dev', 'lo']);
    const host = await node.createVeth({ name: 'twdemo0', peer: { name: 'eth0', netns: podNs.path } });
    const eth0 = await pod.link('eth0');
    if (!eth0) throw new Error('the pod end of the veth did not appear');
    await pod.setUp(eth0.index);
    await node.setUp(host.index);
    await pod.addAddress(eth0.index, `${POD_IP}/32`);
    await pod.addRoute({ destination: 'default', ifindex: eth0.index, gateway: GATEWAY, onlink: true });
    await pod.addPermanentNeighbour(eth0.index, GATEWAY, host.mac);
    await node.addRoute({ destination: `${POD_IP}/32`, ifindex: host.index });
    console.log(`  node namespace  ${nodeNs.name} (node IP ${NODE_IP})`);
    console.log(`  pod namespace   ${podNs.name}: eth0 ${POD_IP}/32, default via ${GATEWAY} onlink, neighbour ${GATEWAY} -> ${host.mac}`);

    attachment = withNetns(nodeNs.path, () => attach(program, host.index, 'ingress'));
    const hook = withNetns(nodeNs.path, () => queryAttached(host.index, 'ingress'));
    const how = 'kind' in attachment ? 'a clsact filter' : `a TCX link (link id ${hook.tcx.linkIds[0]})`;
    console.log(`  attached        program ${program.info.name} (id ${program.info.id}) to ${host.name} ingress as ${how}\n`);

    const slot = Buffer.alloc(4);
    const before = packetCount(counts.lookup(slot));
    const ping = podNs.exec('ping', ['-c', String(PINGS), '-i', '0.2', '-W', '1', NODE_IP]);
    const after = packetCount(counts.lookup(slot));
    console.log(`  ping pod -> node: ${/(\d+) received/.exec(ping)?.[1] ?? '?'}/${PINGS} replies`);
    console.log(`  counter on ${host.name} ingress: ${before.packets} -> ${after.packets} packets, ${before.bytes} -> ${after.bytes} bytes`);
    if (after.packets - before.packets < BigInt(PINGS)) throw new Error('the counter did not see the pod\'s packets');
  } finally {
    if (attachment) withNetns(nodeNs.path, () => detach(attachment as Attachment));
    node.close();
    pod.close();
    counts.close();
    program.close();
    object.close();
    nodeNs.delete();
    podNs.delete();
    bpffs.cleanup();
  }
  console.log('\n  removed the namespaces, the veth, the attachment and the bpffs mount');
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
