// CNI results: what ADD returns and what later plugins and CHECK/DEL get back as
// prevResult, in the shape of the version the runtime asked for.
import { Code, CniError } from './errors';
import { atLeast } from './versions';

export interface Interface {
  name: string;
  mac?: string;
  /** The netns path for interfaces inside the container. */
  sandbox?: string;
}

export interface IpConfig {
  /** a.b.c.d/len */
  address: string;
  gateway?: string;
  /** Index into interfaces. */
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
}

export interface Result {
  interfaces: Interface[];
  ips: IpConfig[];
  routes: Route[];
  dns: Record<string, unknown>;
}

export function emptyResult(): Result {
  return { interfaces: [], ips: [], routes: [], dns: {} };
}

/** The result as the runtime expects it for `cniVersion` (0.3.x/0.4.0 tag each IP with its family, an earlier plugin's IPv6 included). */
export function formatResult(result: Result, cniVersion: string): Record<string, unknown> {
  const ips = atLeast(cniVersion, '1.0.0') ? result.ips : result.ips.map((ip) => ({ version: ip.address.includes(':') ? '6' : '4', ...ip }));
  return { cniVersion, interfaces: result.interfaces, ips, routes: result.routes, dns: result.dns };
}

function fail(field: string, problem: string): never {
  throw new CniError(Code.InvalidConfig, `prevResult.${field} ${problem}`);
}

function list<T>(raw: Record<string, unknown>, field: string, item: (value: Record<string, unknown>, at: string) => T): T[] {
  const value = raw[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(field, 'must be a list');
  return value.map((entry, i) => {
    if (typeof entry !== 'object' || entry === null) fail(`${field}[${i}]`, 'must be an object');
    return item(entry as Record<string, unknown>, `${field}[${i}]`);
  });
}

function text(entry: Record<string, unknown>, key: string, at: string, required: boolean): string | undefined {
  const value = entry[key];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string') fail(`${at}.${key}`, 'must be a string');
  return value;
}

/** Reads a prevResult of any supported version into a Result, naming the field at fault. */
export function parseResult(raw: unknown): Result {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('', 'must be an object');
  const result = raw as Record<string, unknown>;
  const optional = <T extends object>(value: T): T =>
    Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
  return {
    interfaces: list(result, 'interfaces', (entry, at) =>
      optional({ name: text(entry, 'name', at, true) as string, mac: text(entry, 'mac', at, false), sandbox: text(entry, 'sandbox', at, false) }),
    ),
    ips: list(result, 'ips', (entry, at) => {
      const index = entry.interface;
      if (index !== undefined && (typeof index !== 'number' || !Number.isInteger(index) || index < 0)) fail(`${at}.interface`, 'must be an interface index');
      return optional({ address: text(entry, 'address', at, true) as string, gateway: text(entry, 'gateway', at, false), interface: index as number | undefined });
    }),
    routes: list(result, 'routes', (entry, at) => optional({ dst: text(entry, 'dst', at, true) as string, gw: text(entry, 'gw', at, false) })),
    dns: typeof result.dns === 'object' && result.dns !== null ? (result.dns as Record<string, unknown>) : {},
  };
}
