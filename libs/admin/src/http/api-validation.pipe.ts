import { BadRequestException, Injectable, StandardSchemaValidationPipe, type StandardSchemaValidationPipeOptions } from '@nestjs/common';

type Issue = Parameters<NonNullable<StandardSchemaValidationPipeOptions['exceptionFactory']>>[0][number];

/**
 * Nest's Standard Schema pipe (the zod schemas given to `@Body({ schema })`, `@Query({ schema })`),
 * answering 400 with one entry per offending field.
 */
@Injectable()
export class ApiValidationPipe extends StandardSchemaValidationPipe {
  constructor() {
    super({ exceptionFactory: (issues) => validationFailed(issues) });
  }
}

function validationFailed(issues: readonly Issue[]): BadRequestException {
  const errors = issues.map((issue) => ({ field: fieldOf(issue), message: issue.message }));
  return new BadRequestException({
    message: `invalid request: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
    errors,
  });
}

/** The dotted path of the field; an unknown key names itself; the whole value is `body`. */
function fieldOf(issue: Issue): string {
  const path = (issue.path ?? []).map((segment) => String(typeof segment === 'object' ? segment.key : segment));
  const keys = (issue as { keys?: unknown }).keys;
  if (Array.isArray(keys) && keys.length) path.push(keys.join(','));
  return path.length ? path.join('.') : 'body';
}
