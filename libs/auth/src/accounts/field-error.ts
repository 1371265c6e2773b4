import { BadRequestException } from '@nestjs/common';

/** A 400 naming the offending field, in the same shape as the request validation errors. */
export function fieldError(field: string, message: string): BadRequestException {
  return new BadRequestException({ message: `${field}: ${message}`, errors: [{ field, message }] });
}
