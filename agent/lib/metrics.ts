// Everything the agent exports to Prometheus, in one registry. Datapath counters and map
// occupancy are read from the BPF maps at scrape time, so they are never stale and cost
// nothing between scrapes; the rest is recorded as it happens.
//
// Names follow Prometheus conventions: base units (seconds, bytes), `_total` on
// counters, and labels whose values come from small fixed sets.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import { counterLabel, FAMILY_NAMES, readCounters } from '../../bpf/counters';
import { DIRECTIONS, REASONS, type DirectionName, type ReasonName } from '../../bpf/layouts';
import { entryCount } from '../../bpf/map-entries';
import type { BpfMap } from '../../bpf/tsbpf';
import { POD_COMMANDS, RESULT_OF_CODE } from '../api/cni';
import type { NodeSource, NodeSourceEvent, NodeSourceObserver } from './cluster-nodes';
import type { DatapathMaps } from './datapath';
import { REFUSALS } from './http-endpoints';
import { REFUSAL_REASONS, type RefusedNode } from './node-claims';

const SOURCE_EVENTS: Record<NodeSource['kind'], NodeSourceEvent[]> = { static: ['list', 'reload'], kubernetes: ['list', 'add', 'update', 'delete'] };
export const NODE_SOURCE_KINDS = Object.keys(SOURCE_EVENTS) as Array<NodeSource['kind']>;

/** What a CNI command can end in: success, or one of the error codes by name. */
const CNI_RESULTS = ['success', ...RESULT_OF_CODE.values()];

/** Every reason of each family under every hook, as the counters are labelled. */
const COUNTER_LABELS = (Object.keys(REASONS) as ReasonName[]).flatMap((reason) =>
  FAMILY_NAMES.flatMap((family) => (Object.keys(DIRECTIONS) as DirectionName[]).map((direction) => ({ reason: counterLabel(reason), family: counterLabel(family), direction: counterLabel(direction) }))),
);

/** The maps whose occupancy is exported, by their pinned names. */
const OCCUPANCY = { endpoints: (maps: DatapathMaps): BpfMap => maps.endpoints, node_subnets: (maps: DatapathMaps): BpfMap => maps.nodeSubnets, node_subnets6: (maps: DatapathMaps): BpfMap => maps.nodeSubnets6 };
const OCCUPANCY_MAPS = Object.keys(OCCUPANCY) as Array<keyof typeof OCCUPANCY>;

// Node changes apply in milliseconds; a slow API server or a large cluster shows up
// in the upper buckets.
const SYNC_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// A CNI command is a process start (~100 ms of Node.js) plus the work.
const CNI_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class AgentMetrics {
  readonly registry = new Registry();

  readonly nodeSourceEvents = new Counter({
    name: 'twill_node_source_events_total',
    help: 'Changes the node source reported: Node add/update/delete and list from Kubernetes, reload of a static file.',
    labelNames: ['source', 'event'] as const,
    registers: [this.registry],
  });

  readonly nodeSourceErrors = new Counter({
    name: 'twill_node_source_errors_total',
    help: 'Failed lists, broken watches and unreadable node files; the last good node list stays in force.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly nodes = new Gauge({ name: 'twill_nodes', help: 'Nodes the node source currently lists, this one included.', registers: [this.registry] });

  readonly syncDuration = new Histogram({
    name: 'twill_node_sync_duration_seconds',
    help: 'Time to bring the node-subnets map and host routes in step with one node list.',
    buckets: SYNC_BUCKETS,
    registers: [this.registry],
  });

  readonly syncLag = new Histogram({
    name: 'twill_node_sync_lag_seconds',
    help: 'From a node list arriving from the source to the map and routes reflecting it (queueing included).',
    buckets: SYNC_BUCKETS,
    registers: [this.registry],
  });

  readonly nodesRefused = new Gauge({
    name: 'twill_nodes_refused',
    help: 'Nodes whose pod subnet or address this node refuses, by the rule their claim broke; they get no route or map entry.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly syncErrors = new Counter({ name: 'twill_node_sync_errors_total', help: 'Node syncs that failed; the next change retries.', registers: [this.registry] });

  readonly syncLastSuccess = new Gauge({
    name: 'twill_node_sync_last_success_timestamp_seconds',
    help: 'Unix time of the last node sync that succeeded.',
    registers: [this.registry],
  });

  readonly cniOperations = new Counter({
    name: 'twill_cni_operations_total',
    help: 'CNI commands on this node, by command and result (success, or the CNI error code name); commands the plugin refused before asking the agent included, DELs recorded while the agent was down counted when it completes them.',
    labelNames: ['command', 'result'] as const,
    registers: [this.registry],
  });

  readonly cniDuration = new Histogram({
    name: 'twill_cni_operation_duration_seconds',
    help: 'Time the agent took over a CNI command, from the request arriving to the answer (a plugin process adds its own start, ~40 ms).',
    labelNames: ['command'] as const,
    buckets: CNI_BUCKETS,
    registers: [this.registry],
  });

  readonly httpConnectionsRefused = new Counter({
    name: 'twill_http_connections_refused_total',
    help: 'Connections to the metrics and health port reset at accept, by the cap they hit: address (too many from one address) or total (too many from all remote addresses).',
    labelNames: ['cap'] as const,
    registers: [this.registry],
  });

  readonly info = new Gauge({
    name: 'twill_agent_info',
    help: 'Always 1; the labels say which build runs in which mode, attaching its programs how (tcx or tc).',
    labelNames: ['version', 'mode', 'attach'] as const,
    registers: [this.registry],
  });

  // Exported once the datapath is loaded: before, there is no capacity to tell.
  private readonly mapCapacity = new Gauge({ name: 'twill_bpf_map_capacity', help: 'Maximum entries of a datapath map.', labelNames: ['map'] as const, registers: [this.registry] });

  /** Set once the datapath is loaded: its counters and maps are read at each scrape. */
  private datapath?: DatapathMaps;
  private isReady: () => boolean = () => false;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Every closed label set is exported from the start, at 0: a panel or an alert
    // on a drop reason or an error that has not happened yet shows a zero, not a gap
    // an operator would read as broken.
    for (const command of POD_COMMANDS) {
      for (const result of CNI_RESULTS) this.cniOperations.inc({ command, result }, 0);
      this.cniDuration.zero({ command });
    }
    for (const cap of REFUSALS) this.httpConnectionsRefused.inc({ cap }, 0);
    this.recordRefusals([]);
    this.registerScrapeTimeMetrics();
  }

  /** Sets the refused-node gauge from a judgement, every reason included. */
  recordRefusals(refused: RefusedNode[]): void {
    for (const reason of REFUSAL_REASONS) this.nodesRefused.set({ reason }, refused.filter((node) => node.reason === reason).length);
  }

  /** Counts a node source's events and errors under its kind. */
  nodeSourceObserver(source: NodeSource['kind']): NodeSourceObserver {
    for (const event of SOURCE_EVENTS[source]) this.nodeSourceEvents.inc({ source, event }, 0);
    this.nodeSourceErrors.inc({ source }, 0);
    return {
      event: (event) => this.nodeSourceEvents.inc({ source, event }),
      error: () => this.nodeSourceErrors.inc({ source }),
    };
  }

  /** Exports readiness as /readyz would answer it at each scrape. */
  watchReadiness(isReady: () => boolean): void {
    this.isReady = isReady;
  }

  /** Exports the datapath counters and map occupancy from `maps`, read at each scrape. */
  watchDatapath(maps: DatapathMaps): void {
    this.datapath = maps;
    for (const name of OCCUPANCY_MAPS) this.mapCapacity.set({ map: name }, OCCUPANCY[name](maps).info.maxEntries);
  }

  /** The metrics whose values are read when Prometheus scrapes: readiness, the datapath's counters and maps. */
  private registerScrapeTimeMetrics(): void {
    const metrics = this;
    new Gauge({
      name: 'twill_agent_ready',
      help: '1 when /readyz passes: datapath loaded and attached, node source listed and synced.',
      registers: [this.registry],
      collect() {
        this.set(metrics.isReady() ? 1 : 0);
      },
    });
    // One read of the per-CPU map per scrape fills both counters. The registry runs
    // each metric's collect just before exporting it, in registration order, so bytes
    // (registered after packets) is exported after packets' collect has filled it.
    const packets = new Counter({
      name: 'twill_datapath_packets_total',
      help: 'Packets the datapath handled, by reason (delivered_local, forwarded_remote, passed_*, dropped_*), IP family (ARP counts as ipv4) and hook.',
      labelNames: ['reason', 'family', 'direction'] as const,
      registers: [this.registry],
      collect() {
        packets.reset();
        bytes.reset();
        for (const labels of COUNTER_LABELS) {
          packets.inc(labels, 0);
          bytes.inc(labels, 0);
        }
        if (!metrics.datapath) return;
        for (const counter of readCounters(metrics.datapath.counters)) {
          const labels = { reason: counterLabel(counter.reason), family: counterLabel(counter.family), direction: counterLabel(counter.direction) };
          packets.inc(labels, Number(counter.packets));
          bytes.inc(labels, Number(counter.bytes));
        }
      },
    });
    const bytes = new Counter({
      name: 'twill_datapath_bytes_total',
      help: 'Bytes the datapath handled (whole frames as the hook saw them), by reason, IP family and hook.',
      labelNames: ['reason', 'family', 'direction'] as const,
      registers: [this.registry],
    });
    new Gauge({
      name: 'twill_bpf_map_entries',
      help: 'Entries in a datapath map: endpoints are this node\'s pods, node_subnets the other nodes.',
      labelNames: ['map'] as const,
      registers: [this.registry],
      collect() {
        const { datapath } = metrics;
        for (const name of OCCUPANCY_MAPS) this.set({ map: name }, datapath ? entryCount(name, OCCUPANCY[name](datapath)) : 0);
      },
    });
  }
}
