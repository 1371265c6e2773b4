import { BerthConfig } from '@berth/config';

/** Builds Location URLs: absolute under PUBLIC_URL when set, else relative (clients resolve both). */
export function location(config: BerthConfig, path: string): string {
  return `${config.publicUrl ?? ''}${path}`;
}
