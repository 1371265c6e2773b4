import { HttpStatus } from '@nestjs/common';

/** 404 → `Not Found`: the `error` of an API error body. */
export function statusName(status: number): string {
  const constant: string | undefined = HttpStatus[status];
  if (!constant) return 'Error';
  return constant
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');
}
