// What the API server would check of rendered objects, as far as it can be checked
// offline: each object against its kind's OpenAPI schema (kubernetes-models, and
// @kubernetes-models/prometheus-operator for the ServiceMonitor CRD), unknown fields as
// strict field validation would (built-in kinds, from @kubernetes/client-node's models),
// and the references between the objects of one release.
import type { KubeObject } from './render';

interface Model {
  validate(): void;
}
type ModelClass = new (data: object) => Model;
type ModelModule = Record<string, ModelClass | undefined>;

// Both packages are ES modules only; tsc (CommonJS output) would turn import() into require().
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

const CRD_MODULES: Record<string, string> = {
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

async function modelModule(apiVersion: string): Promise<ModelModule | undefined> {
  if (CRD_MODULES[apiVersion]) return (await importModule(CRD_MODULES[apiVersion])) as ModelModule;
  if (!/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion)) return undefined;
  try {
    return require(`kubernetes-models/${apiVersion}`) as ModelModule;
  } catch {
    return undefined;
  }
}

/** Validates against the kind's schema; throws naming the object, or for a kind with no model. */
export async function validateWithModel(object: KubeObject): Promise<void> {
  const id = `${object.apiVersion}/${object.kind} ${object.metadata?.name}`;
  const Model = (await modelModule(object.apiVersion))?.[object.kind];
  if (!Model) throw new Error(`${id}: no model for this apiVersion and kind: the test does not know how to validate it`);
  try {
    new Model(object).validate();
  } catch (error) {
    throw new Error(`${id}: ${(error as Error).message}`);
  }
}

interface Attribute {
  baseName: string;
  type: string;
}
type AttributeSource = { getAttributeTypeMap(): Attribute[] };

let clientModels: Record<string, unknown> | undefined;

async function attributeTypes(type: string): Promise<Attribute[] | undefined> {
  clientModels ??= (await importModule('@kubernetes/client-node')) as Record<string, unknown>;
  const model = clientModels[type] as Partial<AttributeSource> | undefined;
  return typeof model?.getAttributeTypeMap === 'function' ? model.getAttributeTypeMap() : undefined;
}

/** The client-node model of a built-in kind (V1DaemonSet for apps/v1 DaemonSet), if any. */
export async function builtinModelName(object: KubeObject): Promise<string | undefined> {
  const version = object.apiVersion.split('/').pop() as string;
  const name = `${version[0].toUpperCase()}${version.slice(1)}${object.kind}`;
  return (await attributeTypes(name)) ? name : undefined;
}

/**
 * Fields the API server does not know, as `kubectl apply --validate=strict` reports them
 * (the default, Warn, drops them silently: a misspelt field is simply ignored).
 */
export async function unknownFields(object: KubeObject): Promise<string[]> {
  const modelName = await builtinModelName(object);
  if (!modelName) throw new Error(`${object.kind}: not a built-in kind; its fields cannot be checked strictly`);
  const problems: string[] = [];
  const walk = async (value: unknown, type: string, at: string): Promise<void> => {
    if (value === null || value === undefined) return;
    const array = /^Array<(.+)>$/.exec(type);
    if (array) {
      if (Array.isArray(value)) for (const [i, item] of value.entries()) await walk(item, array[1], `${at}[${i}]`);
      return;
    }
    const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
    if (map) {
      for (const [key, item] of Object.entries(value as object)) await walk(item, map[1], `${at}.${key}`);
      return;
    }
    const attributes = await attributeTypes(type);
    if (!attributes || typeof value !== 'object') return; // a scalar, IntOrString, any
    for (const [key, item] of Object.entries(value as object)) {
      const attribute = attributes.find((a) => a.baseName === key);
      if (!attribute) problems.push(`${at}.${key}`.replace(/^\./, ''));
      else await walk(item, attribute.type, `${at}.${key}`);
    }
  };
  await walk(object, modelName, '');
  return problems;
}

// ---- references between the objects of one release -------------------------------------

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'Namespace', 'PriorityClass', 'CustomResourceDefinition']);

interface Container {
  name: string;
  ports?: Array<{ name?: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  env?: Array<{ name: string }>;
  securityContext?: { privileged?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { add?: string[] } };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
}
interface Probe {
  httpGet?: { port: number | string };
}
interface PodSpec {
  serviceAccountName?: string;
  containers: Container[];
  initContainers?: Container[];
  volumes?: Array<{ name: string; configMap?: { name: string } }>;
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec: PodSpec;
}

function isSubset(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return Object.keys(selector ?? {}).length > 0 && Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

function validLabelKey(key: string): boolean {
  const [prefix, name] = key.includes('/') ? key.split('/', 2) : [undefined, key];
  return (prefix === undefined || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix))) && name.length <= 63 && LABEL_NAME.test(name);
}

/**
 * What the API server's validation and the running cluster would trip over across the
 * objects: names and labels, selectors that match nothing, volumes, ports, service
 * accounts, roles and config maps referenced but not rendered, and the security
 * context combinations Kubernetes refuses.
 */
export function crossReferenceProblems(objects: KubeObject[], namespace: string): string[] {
  const problems: string[] = [];
  const named = (kind: string, name: string): KubeObject | undefined => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const podTemplates: Array<{ owner: string; template: PodTemplate }> = [];

  for (const object of objects) {
    const id = `${object.kind} ${object.metadata.name}`;
    if (!DNS_SUBDOMAIN.test(object.metadata.name) || object.metadata.name.length > 253) problems.push(`${id}: name is not a DNS subdomain`);
    if (CLUSTER_SCOPED.has(object.kind) && object.metadata.namespace) problems.push(`${id}: cluster-scoped but has a namespace`);
    if (!CLUSTER_SCOPED.has(object.kind) && !object.metadata.namespace) problems.push(`${id}: namespaced but has no namespace`);
    for (const [key, value] of Object.entries(object.metadata.labels ?? {})) {
      if (!validLabelKey(key)) problems.push(`${id}: label key ${key} is invalid`);
      if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) problems.push(`${id}: label ${key}=${String(value)} is not a valid label value`);
    }
    const spec = object.spec as Record<string, unknown> | undefined;
    if (object.kind === 'DaemonSet' || object.kind === 'Deployment' || object.kind === 'StatefulSet') {
      const template = spec?.template as PodTemplate;
      const selector = (spec?.selector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels;
      if (!isSubset(selector, template.metadata?.labels)) problems.push(`${id}: selector does not match the pod template's labels`);
      podTemplates.push({ owner: id, template });
    }
    if (object.kind === 'ClusterRoleBinding' || object.kind === 'RoleBinding') {
      const roleRef = object.roleRef as { kind: string; name: string };
      if (!named(roleRef.kind, roleRef.name)) problems.push(`${id}: roleRef ${roleRef.kind} ${roleRef.name} is not in the release`);
      for (const subject of (object.subjects as Array<{ kind: string; name: string; namespace?: string }>) ?? []) {
        const account = subject.kind === 'ServiceAccount' ? named('ServiceAccount', subject.name) : undefined;
        if (subject.kind === 'ServiceAccount' && (!account || account.metadata.namespace !== subject.namespace)) {
          problems.push(`${id}: subject ServiceAccount ${subject.namespace}/${subject.name} is not in the release`);
        }
      }
    }
  }

  for (const { owner, template } of podTemplates) {
    const pod = template.spec;
    const containers = [...(pod.initContainers ?? []), ...pod.containers];
    const volumes = new Set((pod.volumes ?? []).map((v) => v.name));
    const mounted = new Set<string>();
    if (pod.serviceAccountName && !named('ServiceAccount', pod.serviceAccountName)) problems.push(`${owner}: serviceAccountName ${pod.serviceAccountName} is not in the release`);
    for (const volume of pod.volumes ?? []) {
      if (!DNS_LABEL.test(volume.name)) problems.push(`${owner}: volume name ${volume.name} is not a DNS label`);
      if (volume.configMap && !named('ConfigMap', volume.configMap.name)) problems.push(`${owner}: volume ${volume.name} names ConfigMap ${volume.configMap.name}, not in the release`);
    }
    for (const container of containers) {
      const at = `${owner} container ${container.name}`;
      const ports = new Set((container.ports ?? []).map((p) => p.name).filter((n): n is string => Boolean(n)));
      for (const port of container.ports ?? []) {
        if (port.name !== undefined && (port.name.length > 15 || !PORT_NAME.test(port.name) || !/[a-z]/.test(port.name))) problems.push(`${at}: port name ${port.name} is not an IANA service name`);
      }
      for (const mount of container.volumeMounts ?? []) {
        mounted.add(mount.name);
        if (!volumes.has(mount.name)) problems.push(`${at}: mounts volume ${mount.name}, which the pod does not have`);
      }
      const mountPaths = (container.volumeMounts ?? []).map((m) => m.mountPath);
      if (new Set(mountPaths).size !== mountPaths.length) problems.push(`${at}: two mounts at one path`);
      const envNames = (container.env ?? []).map((e) => e.name);
      if (new Set(envNames).size !== envNames.length) problems.push(`${at}: an environment variable is set twice`);
      for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
        const port = probe?.httpGet?.port;
        if (typeof port === 'string' && !ports.has(port)) problems.push(`${at}: a probe uses port ${port}, which the container does not name`);
      }
      const security = container.securityContext;
      if (security?.allowPrivilegeEscalation === false) {
        if (security.privileged) problems.push(`${at}: privileged with allowPrivilegeEscalation false is refused`);
        if ((security.capabilities?.add ?? []).some((c) => c === 'SYS_ADMIN' || c === 'CAP_SYS_ADMIN')) problems.push(`${at}: SYS_ADMIN with allowPrivilegeEscalation false is refused`);
      }
    }
    for (const volume of volumes) if (!mounted.has(volume)) problems.push(`${owner}: volume ${volume} is mounted by no container`);
  }

  for (const service of objects.filter((o) => o.kind === 'Service')) {
    const spec = service.spec as { selector?: Record<string, string>; ports: Array<{ name?: string; targetPort?: number | string }> };
    const pods = podTemplates.filter(({ template }) => isSubset(spec.selector, template.metadata?.labels));
    if (pods.length === 0) problems.push(`Service ${service.metadata.name}: selector matches no pod template in the release`);
    for (const port of spec.ports) {
      if (typeof port.targetPort !== 'string') continue;
      const found = pods.some(({ template }) => template.spec.containers.some((c) => (c.ports ?? []).some((p) => p.name === port.targetPort)));
      if (!found) problems.push(`Service ${service.metadata.name}: targetPort ${port.targetPort} is no container port of the selected pods`);
    }
  }

  for (const monitor of objects.filter((o) => o.kind === 'ServiceMonitor')) {
    const spec = monitor.spec as {
      selector: { matchLabels?: Record<string, string> };
      namespaceSelector?: { matchNames?: string[]; any?: boolean };
      endpoints: Array<{ port?: string }>;
    };
    const namespaces = spec.namespaceSelector?.any ? undefined : spec.namespaceSelector?.matchNames ?? [monitor.metadata.namespace];
    const services = objects.filter(
      (o) => o.kind === 'Service' && isSubset(spec.selector.matchLabels, o.metadata.labels) && (!namespaces || namespaces.includes(o.metadata.namespace)),
    );
    if (services.length === 0) problems.push(`ServiceMonitor ${monitor.metadata.name}: selects no Service of the release`);
    for (const endpoint of spec.endpoints) {
      const ok = services.some((s) => (s.spec as { ports: Array<{ name?: string }> }).ports.some((p) => p.name === endpoint.port));
      if (!ok) problems.push(`ServiceMonitor ${monitor.metadata.name}: endpoint port ${endpoint.port} is no port of the selected Services`);
    }
  }

  for (const object of objects) {
    if (object.metadata.namespace !== undefined && object.metadata.namespace !== namespace && object.kind !== 'ConfigMap') {
      problems.push(`${object.kind} ${object.metadata.name}: in namespace ${object.metadata.namespace}, not the release's ${namespace}`);
    }
  }
  return problems;
}
