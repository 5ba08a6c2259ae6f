// The contract between twill-cni and twill-agent: the one module both import. The
// plugin checks what the runtime gave it, sends one request per command over a
// root-only unix socket and prints the answer; the agent does the work. Nothing else
// crosses between the two rooms.
//
// Framing: one JSON request, one JSON answer, each a single line ending in "\n".

/** The well-known error codes of the CNI spec (1.1.0), plus Twill's own (100+). */
export const Code = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  /** CHECK found the pod's network differs from what ADD set up. */
  CheckFailed: 100,
  /** A failure nobody anticipated (a bug): the message says what threw. */
  Internal: 101,
} as const;

export type CodeValue = (typeof Code)[keyof typeof Code];

/** IncompatibleVersion → incompatible_version: metric label values from the code table itself. */
export const RESULT_OF_CODE = new Map<number, string>(Object.entries(Code).map(([name, code]) => [code, name.replace(/(?<!^)([A-Z])/g, '_$1').toLowerCase()]));

/** Where the agent listens unless the network config names another socket (agentSocket). */
export const DEFAULT_AGENT_SOCKET = '/run/twill/cni.sock';
/** The agent's state directory unless the network config names another (stateDir). */
export const DEFAULT_STATE_DIR = '/var/lib/twill';
/** The socket's name in the agent's run directory. */
export const AGENT_SOCKET_NAME = 'cni.sock';

/** One interface of one pod: what the runtime calls CNI_CONTAINERID and CNI_IFNAME. */
export interface Attachment {
  containerID: string;
  ifname: string;
}

export const POD_COMMANDS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS'] as const;
export type PodCommand = (typeof POD_COMMANDS)[number];

export type PodRequest =
  | { command: 'ADD'; attachment: Attachment; netns: string; mtu?: number; limits?: PodLimits }
  /** netns is empty when the runtime no longer has the sandbox. */
  | { command: 'DEL'; attachment: Attachment; netns: string }
  /** addresses: what the runtime's prevResult lists (a.b.c.d/len). */
  | { command: 'CHECK'; attachment: Attachment; netns: string; addresses: string[] }
  | { command: 'GC'; validAttachments: Attachment[] }
  | { command: 'STATUS' }
  /** A command the plugin refused before asking anything: counted, nothing done. */
  | { command: 'REFUSED'; refused: PodCommand; code: CodeValue };

/** One direction of a pod's bandwidth limit, as runtimeConfig.bandwidth gives it. */
export interface RateLimit {
  /** Bits per second. */
  rate: number;
  /** Bits the pod may send (or receive) at once, above the rate. */
  burst: number;
}

/** A pod's bandwidth limits: ingress is what it receives, egress what it sends; a direction left out is unlimited. */
export interface PodLimits {
  ingress?: RateLimit;
  egress?: RateLimit;
}

/**
 * The limits a pod may have. Rates span what Kubernetes accepts in its bandwidth
 * annotations (1k to 1P); bursts, what the reference bandwidth plugin does (under
 * 4 GB). containerd asks 2^32 - 1 bits of burst for every limited pod.
 */
export const RATE_LIMIT_BOUNDS = { minRate: 1_000, maxRate: 1e15, maxBurst: 8 * (2 ** 32 - 1) - 1 } as const;

/** What ADD made: the plugin turns it into the CNI result of the runtime's version. */
/** One of a pod's addresses: a.b.c.d/32 or an IPv6 /128, and its gateway (the next hop of its family's default route). */
export interface PodAddress {
  address: string;
  gateway: string;
}

export interface PodInterfaces {
  /** IPv4 first, in a dual-stack node both. */
  addresses: PodAddress[];
  hostVeth: { name: string; mac: string };
  podInterface: { name: string; mac: string };
}

export type AgentAnswer = { ok: true; pod?: PodInterfaces } | { ok: false; code: CodeValue; msg: string; details?: string };

/** A request or answer longer than this is not ours (GC of thousands of attachments fits). */
export const MAX_MESSAGE_BYTES = 4 << 20;

/**
 * A DEL the agent could not take (it was down, or went down mid-request) is written
 * here by the plugin, one JSON Attachment per file, and completed by the agent at its
 * next start, before it serves anything else.
 */
export const PENDING_RELEASES_DIRECTORY = 'pending-release';
