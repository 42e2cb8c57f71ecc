export function parseRelease(
  tag: string,
  pkgVersion: string,
  changelog: string,
): { version: string; major: string; prerelease: boolean; notes: string }
