// The CNI spec versions Twill speaks.

export const SPEC_VERSION = '1.1.0';
export const SUPPORTED_VERSIONS = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

function parts(version: string): number[] {
  return version.split('.').map(Number);
}

/** Whether `version` is `minimum` or later. */
export function atLeast(version: string, minimum: string): boolean {
  const [a, b] = [parts(version), parts(minimum)];
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

export function versionInfo(): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: SPEC_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}
