// The Helm chart (charts/twill), linted and rendered by the real Helm (test/chart/render.ts)
// with the default values and with overrides: every object validated against its schema
// and for unknown fields, the references between them checked, and what the issue asks
// of the agent, the CNI installer, RBAC, monitoring and the dashboards asserted on the
// rendered objects. The agent's and the plugin's own parsers read the rendered configs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import type { IDaemonSet } from 'kubernetes-models/apps/v1';
import type { IClusterRole, IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import type { IConfigMap, IContainer, IPodSpec, IService, IVolume } from 'kubernetes-models/v1';
import YAML from 'yaml';

import { readConfigFile, resolveConfig } from '../../agent/lib/config';
import { parseNetConf } from '../../cni/lib/config';
import {
  DASHBOARDS_DIR, TARGET_LABELS, exportedMetrics, dashboardFiles, dashboardQueries, metricSelectorsOf, substituteVariables,
} from '../chart/dashboard-queries';
import { CHART_DIR, type KubeObject, type Manifest, RenderError, helm, parseManifests, renderChart, runHelm } from '../chart/render';
import { crossReferenceProblems, unknownFields, validateWithModel } from '../chart/validate';
import { repoRoot } from '../helpers/kernel';

const NAMESPACE = 'kube-system';
const OVERRIDES = ['mode=vxlan', 'serviceMonitor.enabled=true', 'mtu=1400'];
const AGENT_KEYS = ['mode', 'attach', 'clusterCIDR', 'mtu', 'vni', 'vxlanPort', 'metricsPort', 'logLevel', 'bpffsRoot', 'stateDir', 'runDir', 'procSysNet'];
const PLUGIN_KEYS = ['cniVersion', 'name', 'type', 'capabilities', 'agentSocket', 'stateDir', 'mtu'];

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-chart-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

function render(set: string[] = []): Manifest[] {
  return parseManifests(renderChart({ releaseName: 'twill', namespace: NAMESPACE, set }));
}

function find<T>(manifests: Manifest[], kind: string, name?: string): T {
  const found = manifests.filter((m) => m.object.kind === kind && (name === undefined || m.object.metadata.name === name));
  assert.equal(found.length, 1, `expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0].object as unknown as T;
}

function kinds(manifests: Manifest[]): string[] {
  return manifests.map((m) => `${m.object.kind}/${m.object.metadata.name}`).sort();
}

function podSpec(manifests: Manifest[]): IPodSpec {
  return find<IDaemonSet>(manifests, 'DaemonSet').spec?.template.spec as IPodSpec;
}

function container(spec: IPodSpec, name: string): IContainer {
  const found = [...(spec.initContainers ?? []), ...spec.containers].find((c) => c.name === name);
  assert.ok(found, `container ${name}`);
  return found;
}

function volume(spec: IPodSpec, name: string): IVolume {
  const found = (spec.volumes ?? []).find((v) => v.name === name);
  assert.ok(found, `volume ${name}`);
  return found;
}

/** mountPath -> what is mounted there (hostPath path, configMap name, emptyDir), for one container. */
function mounts(spec: IPodSpec, containerName: string): Record<string, { source: string; readOnly: boolean; propagation?: string; hostPathType?: string }> {
  const out: Record<string, { source: string; readOnly: boolean; propagation?: string; hostPathType?: string }> = {};
  for (const mount of container(spec, containerName).volumeMounts ?? []) {
    const v = volume(spec, mount.name);
    const source = v.hostPath ? `hostPath:${v.hostPath.path}` : v.configMap ? `configMap:${v.configMap.name}` : v.emptyDir ? 'emptyDir' : 'other';
    out[mount.mountPath] = { source, readOnly: mount.readOnly === true, propagation: mount.mountPropagation, hostPathType: v.hostPath?.type };
  }
  return out;
}

/** `--name value` pairs of a command line, each name with its values in order. */
function optionsOf(args: string[]): Record<string, string[]> {
  const options: Record<string, string[]> = {};
  for (let i = 0; i < args.length; i += 2) {
    assert.match(args[i], /^--[a-z-]+$/, `an option name at ${i}`);
    (options[args[i].slice(2)] ??= []).push(args[i + 1]);
  }
  return options;
}

function agentConfig(manifests: Manifest[]): Record<string, unknown> {
  const text = find<IConfigMap>(manifests, 'ConfigMap', 'twill-config').data?.['agent.yaml'];
  assert.ok(text, 'ConfigMap twill-config has agent.yaml');
  return YAML.parse(text) as Record<string, unknown>;
}

interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown>>;
}

function conflist(manifests: Manifest[]): Conflist {
  const text = find<IConfigMap>(manifests, 'ConfigMap', 'twill-cni').data?.['10-twill.conflist'];
  assert.ok(text, 'ConfigMap twill-cni has 10-twill.conflist');
  return JSON.parse(text) as Conflist;
}

describe('Helm chart charts/twill', () => {
  let defaults: Manifest[];
  let overridden: Manifest[];

  before(() => {
    helm();
    defaults = render();
    overridden = render(OVERRIDES);
  });

  test('helm lint passes, with the default values and with the overrides', () => {
    for (const set of [[], OVERRIDES]) assert.match(runHelm(['lint', CHART_DIR, ...set.flatMap((expression) => ['--set', expression])]), /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test('renders the expected objects, with and without the ServiceMonitor', () => {
    const always = ['ClusterRole/twill', 'ClusterRoleBinding/twill', 'ConfigMap/twill-cni', 'ConfigMap/twill-config', 'ConfigMap/twill-dashboards', 'DaemonSet/twill', 'ServiceAccount/twill'];
    assert.deepEqual(kinds(defaults), always);
    assert.deepEqual(kinds(overridden), [...always, 'Service/twill-metrics', 'ServiceMonitor/twill'].sort());
    assert.deepEqual(kinds(render(['metrics.service.enabled=true'])), [...always, 'Service/twill-metrics'].sort());
    assert.deepEqual(kinds(render(['dashboards.enabled=false'])), always.filter((k) => k !== 'ConfigMap/twill-dashboards'));
    for (const manifest of defaults) assert.match(manifest.source, /^twill\/templates\/[a-z-]+\.yaml$/);
  });

  for (const [name, set] of [['default values', []], ['mode=vxlan, ServiceMonitor, mtu=1400', OVERRIDES], ['every optional part', [...OVERRIDES, 'cni.portmap=false', 'cni.mtu=1450', 'uplink=eth0', 'apiServer.host=10.0.0.1', 'apiServer.port=6443', 'serviceMonitor.labels.release=prometheus', 'dashboards.annotations.grafana_folder=Twill', 'podAnnotations.a=b', 'agent.startupProbe.enabled=false']]] as Array<[string, string[]]>) {
    test(`every object is valid, has no unknown field, and references only the release (${name})`, async () => {
      const objects = render(set).map((m) => m.object);
      for (const object of objects) {
        await validateWithModel(object);
        if (object.kind !== 'ServiceMonitor') assert.deepEqual(await unknownFields(object), [], `${object.kind} ${object.metadata.name}: unknown fields`);
      }
      assert.deepEqual(crossReferenceProblems(objects, NAMESPACE), []);
    });
  }

  test('the checks themselves catch what they are for', async () => {
    const daemonSet = structuredClone(find<KubeObject>(defaults, 'DaemonSet'));
    const agent = (daemonSet.spec as IDaemonSet['spec'] & object).template.spec?.containers[0] as IContainer & Record<string, unknown>;
    await assert.rejects(validateWithModel({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }), /no model/);
    await assert.rejects(validateWithModel({ ...daemonSet, spec: { ...(daemonSet.spec as object), selector: 'all' } }), /selector must be object/);
    (agent.volumeMounts as unknown as Array<Record<string, unknown>>)[0].mountPropogation = 'HostToContainer';
    agent.securityContext = { ...agent.securityContext, allowPrivilegeEscalation: false, capabilities: { add: ['SYS_ADMIN'] } };
    agent.livenessProbe = { httpGet: { path: '/healthz', port: 'metrcs' } };
    assert.deepEqual(await unknownFields(daemonSet), ['spec.template.spec.containers[0].volumeMounts[0].mountPropogation']);
    const problems = crossReferenceProblems([daemonSet], NAMESPACE);
    assert.ok(problems.some((p) => /SYS_ADMIN with allowPrivilegeEscalation false/.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => /probe uses port metrcs/.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => /serviceAccountName twill is not in the release/.test(p)), problems.join('\n'));
  });

  test('the agent DaemonSet: host network, node-critical, every taint tolerated, rolling updates', () => {
    const daemonSet = find<IDaemonSet>(defaults, 'DaemonSet', 'twill');
    assert.equal(daemonSet.metadata?.namespace, NAMESPACE);
    assert.deepEqual(daemonSet.spec?.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    assert.deepEqual(find<IDaemonSet>(render(['updateStrategy.maxUnavailable=25%']), 'DaemonSet').spec?.updateStrategy?.rollingUpdate?.maxUnavailable, '25%');
    const spec = podSpec(defaults);
    assert.equal(spec.hostNetwork, true);
    assert.equal(spec.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.equal(spec.priorityClassName, 'system-node-critical');
    assert.equal(spec.serviceAccountName, 'twill');
    assert.deepEqual(spec.tolerations, [{ operator: 'Exists' }]);
    assert.deepEqual(spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.ok((spec.terminationGracePeriodSeconds ?? 30) <= 30);
    assert.deepEqual(daemonSet.spec?.selector.matchLabels, { 'app.kubernetes.io/name': 'twill', 'app.kubernetes.io/instance': 'twill' });
    const labels = daemonSet.metadata?.labels ?? {};
    for (const key of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'helm.sh/chart']) assert.ok(labels[key], `label ${key}`);
  });

  test('the agent container: its command, image, NODE_NAME, probes and metrics port', () => {
    const agent = container(podSpec(defaults), 'agent');
    assert.deepEqual(agent.command, ['node', '/opt/twill/dist/agent/main.js', '--config', '/etc/twill/agent.yaml']);
    assert.equal(agent.image, 'ghcr.io/twill/twill:0.1.0', 'the tag defaults to the appVersion');
    assert.equal(container(podSpec(render(['image.tag=dev', 'image.repository=registry.example/twill'])), 'agent').image, 'registry.example/twill:dev');
    assert.deepEqual(agent.env?.find((e) => e.name === 'NODE_NAME'), { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    assert.equal(agent.env?.some((e) => e.name === 'KUBERNETES_SERVICE_HOST'), false);
    assert.deepEqual(agent.ports, [{ name: 'metrics', containerPort: 9962, hostPort: 9962, protocol: 'TCP' }]);
    assert.deepEqual(agent.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' });
    assert.deepEqual(agent.readinessProbe?.httpGet, { path: '/readyz', port: 'metrics' });
    assert.deepEqual(agent.startupProbe?.httpGet, { path: '/healthz', port: 'metrics' });
    assert.deepEqual(agent.resources, { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } });

    const moved = container(podSpec(render(['metrics.port=9100', 'apiServer.host=10.0.0.1', 'apiServer.port=6443'])), 'agent');
    assert.deepEqual(moved.ports, [{ name: 'metrics', containerPort: 9100, hostPort: 9100, protocol: 'TCP' }]);
    assert.deepEqual(moved.env?.slice(1), [{ name: 'KUBERNETES_SERVICE_HOST', value: '10.0.0.1' }, { name: 'KUBERNETES_SERVICE_PORT', value: '6443' }]);
  });

  test('the agent is not privileged: every capability dropped but the four it needs, read-only root', () => {
    const security = container(podSpec(defaults), 'agent').securityContext;
    assert.equal(security?.privileged, false);
    assert.equal(security?.runAsUser, 0);
    assert.equal(security?.allowPrivilegeEscalation, true, 'Kubernetes refuses SYS_ADMIN without it');
    assert.equal(security?.readOnlyRootFilesystem, true);
    assert.deepEqual(security?.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'SYS_ADMIN'] });
    assert.deepEqual(security?.seccompProfile, { type: 'RuntimeDefault' });
    assert.equal(podSpec(defaults).securityContext, undefined, 'nothing pod-wide widens it');
    const unconfined = container(podSpec(render(['agent.seccompProfile.type=Unconfined'])), 'agent').securityContext;
    assert.deepEqual(unconfined?.seccompProfile, { type: 'Unconfined' });
  });

  test('the agent mounts the host paths it needs, and its config and scratch space', () => {
    assert.deepEqual(mounts(podSpec(defaults), 'agent'), {
      '/sys/fs/bpf': { source: 'hostPath:/sys/fs/bpf', readOnly: false, propagation: 'HostToContainer', hostPathType: 'Directory' },
      '/opt/cni/bin': { source: 'hostPath:/opt/cni/bin', readOnly: true, propagation: undefined, hostPathType: 'DirectoryOrCreate' },
      '/etc/cni/net.d': { source: 'hostPath:/etc/cni/net.d', readOnly: true, propagation: undefined, hostPathType: 'DirectoryOrCreate' },
      '/run/netns': { source: 'hostPath:/run/netns', readOnly: true, propagation: 'HostToContainer', hostPathType: 'DirectoryOrCreate' },
      '/var/lib/twill': { source: 'hostPath:/var/lib/twill', readOnly: false, propagation: undefined, hostPathType: 'DirectoryOrCreate' },
      '/run/twill': { source: 'hostPath:/run/twill', readOnly: false, propagation: undefined, hostPathType: 'DirectoryOrCreate' },
      '/run/xtables.lock': { source: 'hostPath:/run/xtables.lock', readOnly: false, propagation: undefined, hostPathType: 'FileOrCreate' },
      '/host/proc/sys/net': { source: 'hostPath:/proc/sys/net', readOnly: false, propagation: undefined, hostPathType: 'Directory' },
      '/etc/twill': { source: 'configMap:twill-config', readOnly: true, propagation: undefined, hostPathType: undefined },
      '/tmp': { source: 'emptyDir', readOnly: false, propagation: undefined, hostPathType: undefined },
    });
    const moved = mounts(podSpec(render(['stateDir=/var/lib/twill2', 'runDir=/run/twill2'])), 'agent');
    assert.equal(moved['/var/lib/twill2']?.source, 'hostPath:/var/lib/twill2');
    assert.equal(moved['/run/twill2']?.source, 'hostPath:/run/twill2');
  });

  test('agent.yaml carries the values, only settings the agent knows, and the agent accepts it', () => {
    const config = agentConfig(defaults);
    assert.deepEqual(config, {
      mode: 'native', attach: 'auto', clusterCIDR: '10.244.0.0/16', vni: 1, vxlanPort: 8472, metricsPort: 9962, logLevel: 'info',
      bpffsRoot: '/sys/fs/bpf/twill', stateDir: '/var/lib/twill', runDir: '/run/twill', procSysNet: '/host/proc/sys/net',
    });
    const vxlan = agentConfig(overridden);
    assert.equal(vxlan.mode, 'vxlan');
    assert.equal(vxlan.mtu, 1400);
    for (const key of Object.keys(vxlan)) assert.ok(AGENT_KEYS.includes(key), `agent.yaml key ${key}`);
    assert.equal('nodeName' in vxlan, false, 'the node name comes from NODE_NAME');
    assert.equal(agentConfig(render(['mtu=0'])).mtu, undefined);
    assert.equal(agentConfig(render(['uplink=eth1'])).uplink, 'eth1');
    assert.equal(agentConfig(render(['attach=tc'])).attach, 'tc');
    const custom = agentConfig(render(['vxlan.vni=42', 'vxlan.port=4789', 'logLevel=debug', 'clusterCIDR=10.32.0.0/12']));
    assert.deepEqual([custom.vni, custom.vxlanPort, custom.logLevel, custom.clusterCIDR], [42, 4789, 'debug', '10.32.0.0/12']);
    // Dual-stack: one range of each family, comma-separated (escaped for --set), and IPv6 alone.
    assert.equal(agentConfig(render(['clusterCIDR=10.244.0.0/16\\,fd00:10:244::/56'])).clusterCIDR, '10.244.0.0/16,fd00:10:244::/56');
    assert.equal(agentConfig(render(['clusterCIDR=fd00:10:244::/56'])).clusterCIDR, 'fd00:10:244::/56');

    // The agent's own parser: unknown or mistyped settings would stop it at start-up.
    const file = path.join(scratch, 'agent.yaml');
    fs.writeFileSync(file, find<IConfigMap>(overridden, 'ConfigMap', 'twill-config').data?.['agent.yaml'] ?? '');
    const resolved = resolveConfig(readConfigFile(file), { nodeName: 'node-1' });
    assert.equal(resolved.mode, 'vxlan');
    assert.equal(resolved.mtu, 1400);
  });

  test('the conflist: twill first, portmap chained by default, the plugin accepts it', () => {
    const list = conflist(defaults);
    assert.equal(list.cniVersion, '1.1.0');
    assert.equal(list.name, 'twill');
    assert.deepEqual(list.plugins, [
      { type: 'twill', capabilities: { bandwidth: true }, agentSocket: '/run/twill/cni.sock', stateDir: '/var/lib/twill' },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ]);
    for (const key of Object.keys(list.plugins[0])) assert.ok(PLUGIN_KEYS.includes(key), `plugin key ${key}`);
    const plain = conflist(render(['cni.portmap=false', 'cni.mtu=1450', 'cni.cniVersion=1.0.0']));
    assert.deepEqual(plain.plugins, [{ type: 'twill', capabilities: { bandwidth: true }, agentSocket: '/run/twill/cni.sock', stateDir: '/var/lib/twill', mtu: 1450 }]);
    assert.equal(plain.cniVersion, '1.0.0');

    // What the runtime hands the plugin: its entry with the list's cniVersion and name.
    const netConf = parseNetConf(Buffer.from(JSON.stringify({ cniVersion: plain.cniVersion, name: plain.name, ...plain.plugins[0] })));
    assert.deepEqual([netConf.type, netConf.agentSocket, netConf.stateDir, netConf.mtu], ['twill', '/run/twill/cni.sock', '/var/lib/twill', 1450]);
    assert.equal(parseNetConf(Buffer.from(JSON.stringify({ cniVersion: list.cniVersion, name: list.name, ...list.plugins[0] }))).mtu, undefined);
  });

  test('install-cni: same image, no capabilities, the plugin and conflist from their mounts', () => {
    const spec = podSpec(defaults);
    assert.deepEqual(spec.initContainers?.map((c) => c.name), ['install-cni']);
    const init = container(spec, 'install-cni');
    assert.equal(init.image, container(spec, 'agent').image);
    assert.deepEqual(init.securityContext?.capabilities, { drop: ['ALL'] });
    assert.equal(init.securityContext?.runAsUser, 0);
    assert.equal(init.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(init.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(mounts(spec, 'install-cni'), {
      '/host/opt/cni/bin': { source: 'hostPath:/opt/cni/bin', readOnly: false, propagation: undefined, hostPathType: 'DirectoryOrCreate' },
      '/host/etc/cni/net.d': { source: 'hostPath:/etc/cni/net.d', readOnly: false, propagation: undefined, hostPathType: 'DirectoryOrCreate' },
      '/etc/twill-cni': { source: 'configMap:twill-cni', readOnly: true, propagation: undefined, hostPathType: undefined },
    });
    // cni/install-cni.sh, run as the image holds it, pointed at the mounts.
    const [script, ...args] = init.command ?? [];
    const dockerfile = fs.readFileSync(path.join(repoRoot, 'agent', 'Dockerfile'), 'utf8');
    assert.match(dockerfile, new RegExp(`test -x ${script}\\b`), 'the image holds the script the chart runs');
    assert.match(dockerfile, /host-bundle\.sh \/opt\/twill\/host-cni\b/, 'the image holds the bundle it installs');
    assert.deepEqual(optionsOf(args), {
      bundle: ['/opt/twill/host-cni'], conflist: ['/etc/twill-cni/10-twill.conflist'], 'bin-dir': ['/host/opt/cni/bin'], 'conf-dir': ['/host/etc/cni/net.d'], requires: ['portmap'],
    });
    assert.ok(find<IConfigMap>(defaults, 'ConfigMap', 'twill-cni').data?.['10-twill.conflist'], 'the conflist it installs is in the mounted ConfigMap');
    const plain = container(podSpec(render(['cni.portmap=false', 'cni.confFileName=05-twill.conflist'])), 'install-cni').command ?? [];
    assert.deepEqual([optionsOf(plain.slice(1)).requires, optionsOf(plain.slice(1)).conflist], [undefined, ['/etc/twill-cni/05-twill.conflist']]);
    const k3s = mounts(podSpec(render(['cni.binDir=/var/lib/rancher/k3s/data/current/bin', 'cni.confDir=/var/lib/rancher/k3s/agent/etc/cni/net.d'])), 'install-cni');
    assert.equal(k3s['/host/opt/cni/bin'].source, 'hostPath:/var/lib/rancher/k3s/data/current/bin');
    assert.equal(k3s['/host/etc/cni/net.d'].source, 'hostPath:/var/lib/rancher/k3s/agent/etc/cni/net.d');
  });

  test('RBAC: get, list and watch on nodes, nothing else, bound to the agent', () => {
    const role = find<IClusterRole>(defaults, 'ClusterRole', 'twill');
    assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }]);
    assert.equal(role.aggregationRule, undefined);
    const binding = find<IClusterRoleBinding>(defaults, 'ClusterRoleBinding', 'twill');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'twill' });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'twill', namespace: NAMESPACE }]);
    assert.equal(find<KubeObject>(defaults, 'ServiceAccount', 'twill').metadata.namespace, NAMESPACE);
  });

  test('metrics: a headless Service and a ServiceMonitor that names targets by node', () => {
    const service = find<IService>(overridden, 'Service', 'twill-metrics');
    assert.equal(service.spec?.clusterIP, 'None');
    assert.deepEqual(service.spec?.ports, [{ name: 'metrics', port: 9962, targetPort: 'metrics', protocol: 'TCP' }]);
    const monitor = find<IServiceMonitor>(overridden, 'ServiceMonitor', 'twill');
    assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(monitor.spec.endpoints?.length, 1);
    const endpoint = monitor.spec.endpoints?.[0];
    assert.equal(endpoint?.port, 'metrics');
    assert.equal(endpoint?.path, '/metrics');
    assert.equal(endpoint?.interval, '30s');
    assert.deepEqual(endpoint?.relabelings, [{ action: 'replace', sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'instance' }]);
    const labelled = find<IServiceMonitor>(render(['serviceMonitor.enabled=true', 'serviceMonitor.labels.release=kube-prometheus', 'serviceMonitor.interval=15s']), 'ServiceMonitor');
    assert.equal(labelled.metadata?.labels?.release, 'kube-prometheus');
    assert.equal(labelled.spec.endpoints?.[0].interval, '15s');
  });

  test('dashboards: a ConfigMap for the Grafana sidecar holding every dashboard file', () => {
    const configMap = find<IConfigMap>(defaults, 'ConfigMap', 'twill-dashboards');
    assert.equal(configMap.metadata?.labels?.grafana_dashboard, '1');
    const files = fs.readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json')).sort();
    assert.ok(files.length >= 1);
    assert.deepEqual(Object.keys(configMap.data ?? {}).sort(), files);
    for (const file of files) {
      const text = configMap.data?.[file] ?? '';
      assert.equal(text, fs.readFileSync(path.join(DASHBOARDS_DIR, file), 'utf8'), `${file} as in the chart`);
      assert.doesNotThrow(() => JSON.parse(text), `${file} is JSON`);
    }
    const annotated = find<IConfigMap>(render(['dashboards.annotations.grafana_folder=Twill', 'dashboards.namespace=monitoring']), 'ConfigMap', 'twill-dashboards');
    assert.deepEqual(annotated.metadata?.annotations, { grafana_folder: 'Twill' });
    assert.equal(annotated.metadata?.namespace, 'monitoring');
  });

  test('a config change rolls the agents (checksum annotations)', () => {
    const annotations = (manifests: Manifest[]): Record<string, string> => find<IDaemonSet>(manifests, 'DaemonSet').spec?.template.metadata?.annotations ?? {};
    assert.match(annotations(defaults)['checksum/config'] ?? '', /^[0-9a-f]{64}$/);
    assert.notEqual(annotations(defaults)['checksum/config'], annotations(overridden)['checksum/config']);
    assert.equal(annotations(defaults)['checksum/cni-config'], annotations(overridden)['checksum/cni-config']);
    assert.notEqual(annotations(defaults)['checksum/cni-config'], annotations(render(['cni.mtu=1450']))['checksum/cni-config']);
  });

  test('bad values fail the render with Helm\'s schema message naming them (values.schema.json)', () => {
    const refused = (set: string[], message: RegExp): void => {
      assert.throws(() => renderChart({ set }), (error: unknown) => error instanceof RenderError && /values don't meet the specifications of the schema/.test(error.message) && message.test(error.message), set.join(' '));
    };
    refused(['clusterCIDR=null'], /clusterCIDR is required/);
    refused(['clusterCIDR='], /clusterCIDR: Does not match pattern/);
    refused(['clusterCIDR=10.244.0.0/16\\,fd00:10:244::/56\\,10.0.0.0/8'], /clusterCIDR: Does not match pattern/);
    refused(['clusterCIDR=10.244.0.0'], /clusterCIDR: Does not match pattern/);
    refused(['mode=gre'], /mode: mode must be one of the following: "native", "vxlan"/);
    refused(['attach=clsact'], /attach: attach must be one of the following: "auto", "tcx", "tc"/);
    refused(['bpffsRoot=/var/run/twill'], /bpffsRoot: Does not match pattern '\^\/sys\/fs\/bpf\/'/);
    refused(['cni.confFileName=twill.conf'], /cni.confFileName: Does not match pattern/);
    refused(['cni.confFileName=../10-twill.conflist'], /cni.confFileName: Does not match pattern/);
    refused(['clusterCidr=10.0.0.0/8'], /Additional property clusterCidr is not allowed/);
    refused(['mtu=100'], /mtu: Must validate at least one schema/);
    refused(['vxlan.port=0'], /vxlan.port: Must be greater than or equal to 1/);
    assert.throws(() => renderChart({ set: ['apiServer.host=10.0.0.1'] }), /apiServer.port is required with apiServer.host/);
    assert.throws(() => renderChart({ kubeVersion: 'v1.22.0' }), /chart requires kubeVersion/);
  });
});

describe('dashboard queries', () => {
  test('metricSelectorsOf finds metrics, matchers and grouping labels, and skips the rest', () => {
    const q = metricSelectorsOf('histogram_quantile(0.99, sum by (le, command) (rate(twill_cni_operation_duration_seconds_bucket{instance=~"$instance", command=~"ADD|DEL"}[$__rate_interval])))');
    assert.deepEqual(q.metrics, ['twill_cni_operation_duration_seconds_bucket']);
    assert.deepEqual(q.groupingLabels, ['command', 'le']);
    assert.deepEqual(q.labels, ['command', 'instance', 'le']);
    assert.deepEqual(q.selectors[0].matchers, [{ label: 'instance', op: '=~', value: '$instance' }, { label: 'command', op: '=~', value: 'ADD|DEL' }]);

    const join = metricSelectorsOf('process_resident_memory_bytes{instance=~"$instance"} and on (instance, job) twill_agent_info');
    assert.deepEqual(join.metrics, ['process_resident_memory_bytes', 'twill_agent_info']);
    assert.deepEqual(join.groupingLabels, ['instance', 'job']);

    const mixed = metricSelectorsOf('time() - max without(job) (foo:bar_total offset 5m) > bool 1e3 or vector(0) * on() group_left(version) {__name__="up", job!="x"} unless sum(rate(x[1h:5m])) / Inf');
    assert.deepEqual(mixed.metrics, ['foo:bar_total', 'up', 'x']);
    assert.deepEqual(mixed.groupingLabels, ['job', 'version']);
    assert.deepEqual(mixed.selectors.find((s) => s.metric === 'up')?.matchers, [{ label: 'job', op: '!=', value: 'x' }]);

    assert.deepEqual(metricSelectorsOf('sum by (reason) (rate(twill_datapath_packets_total{reason="a,b}"}[5m]))').selectors[0].matchers, [{ label: 'reason', op: '=', value: 'a,b}' }]);
    assert.deepEqual(metricSelectorsOf('count(twill_agent_ready == 0)').metrics, ['twill_agent_ready']);
    assert.throws(() => metricSelectorsOf('rate(x{a="b}[5m])'), /unterminated string/);
    assert.throws(() => metricSelectorsOf('x{a}'), /matcher operator/);
    assert.equal(substituteVariables('rate(x{instance=~"$instance"}[$__rate_interval])'), 'rate(x{instance=~".*"}[1m])');
  });

  test('every query references only metrics, labels and label values the agent exports', async () => {
    const { series, labelValues } = await exportedMetrics();
    const queries = dashboardQueries();
    assert.ok(queries.length > 20);
    for (const { title, expr } of queries) {
      const refs = metricSelectorsOf(expr);
      assert.ok(refs.metrics.length > 0, `${title}: no metric in ${expr}`);
      const known = new Set<string>(TARGET_LABELS);
      for (const selector of refs.selectors) {
        const labels = series[selector.metric];
        assert.ok(labels, `${title}: ${selector.metric} is not exported by the agent`);
        labels.forEach((l) => known.add(l));
        for (const matcher of selector.matchers) {
          assert.ok(labels.includes(matcher.label) || TARGET_LABELS.includes(matcher.label), `${title}: ${selector.metric} has no label ${matcher.label}`);
          const values = labelValues[matcher.label];
          if (!values || matcher.value.includes('$') || matcher.op.startsWith('!')) continue;
          const pattern = matcher.op === '=~' ? new RegExp(`^(?:${matcher.value})$`) : undefined;
          const matching = values.filter((v) => (pattern ? pattern.test(v) : v === matcher.value));
          assert.ok(matching.length > 0, `${title}: ${matcher.label}${matcher.op}"${matcher.value}" matches none of ${values.join(', ')}`);
          if (pattern) for (const alternative of matcher.value.split('|').filter((a) => !/[.*+?()[\]]/.test(a))) assert.ok(values.includes(alternative), `${title}: ${matcher.label} value ${alternative} does not exist`);
        }
      }
      for (const label of refs.groupingLabels) assert.ok(known.has(label), `${title}: groups by ${label}, which none of its metrics has`);
    }
  });

  test('every Twill metric is on a dashboard, CNI latency as p50 and p99 by command', async () => {
    const twillSeries = Object.keys((await exportedMetrics()).series).filter((name) => name.startsWith('twill_'));
    const used = new Set(dashboardQueries().flatMap(({ expr }) => metricSelectorsOf(expr).metrics));
    const family = (name: string): string => name.replace(/_(bucket|sum|count)$/, '');
    const families = new Set(twillSeries.map(family));
    assert.deepEqual([...families].filter((f) => ![...used].some((u) => family(u) === f)), []);
    const exprs = dashboardQueries().map((q) => q.expr);
    for (const quantile of ['0.5', '0.99']) {
      assert.ok(exprs.some((e) => e.startsWith(`histogram_quantile(${quantile}, sum by (le, command) (rate(twill_cni_operation_duration_seconds_bucket`) && e.includes('command=~"ADD|DEL"')), `CNI p${quantile}`);
    }
  });

  test('dashboards: schema 39, a Prometheus data source variable, nodes from twill_agent_ready', () => {
    const files = dashboardFiles();
    assert.ok(files.length >= 1);
    const uids = new Set<string>();
    for (const { file, dashboard } of files) {
      const raw = JSON.parse(fs.readFileSync(path.join(DASHBOARDS_DIR, file), 'utf8')) as {
        schemaVersion: number; uid: string; id: unknown;
        templating: { list: Array<{ name: string; type: string; query: unknown; definition?: string }> };
        panels: Array<{ id: number; type: string; datasource?: { type: string; uid: string }; targets?: Array<{ datasource?: { uid: string }; expr: string }> }>;
      };
      assert.equal(raw.schemaVersion, 39, file);
      assert.equal(raw.id, null, `${file}: no instance-specific id`);
      assert.ok(!uids.has(raw.uid), `${file}: uid ${raw.uid} is unique`);
      uids.add(raw.uid);
      const variables = Object.fromEntries(raw.templating.list.map((v) => [v.name, v]));
      assert.deepEqual([variables.datasource?.type, variables.datasource?.query], ['datasource', 'prometheus'], file);
      assert.equal(variables.instance?.type, 'query', file);
      assert.equal(variables.instance?.definition, 'label_values(twill_agent_ready, instance)', file);
      const ids = raw.panels.map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `${file}: panel ids are unique`);
      for (const panel of raw.panels.filter((p) => p.type !== 'row')) {
        assert.equal(panel.datasource?.uid, '${datasource}', `${file} panel ${panel.id}`);
        assert.ok((panel.targets ?? []).length > 0, `${file} panel ${panel.id} has a query`);
        for (const target of panel.targets ?? []) {
          assert.equal(target.datasource?.uid, '${datasource}');
          assert.match(target.expr, /instance=~"\$instance"/, `${file} panel ${panel.id} follows the node selection`);
        }
      }
      assert.ok(dashboard.title.startsWith('Twill / '));
    }
  });
});
