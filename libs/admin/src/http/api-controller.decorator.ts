import { Controller, UseFilters, UseGuards, UsePipes, applyDecorators } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AdminAccessGuard } from './admin-access.guard.js';
import { ApiExceptionFilter } from './api-exception.filter.js';
import { ApiValidationPipe } from './api-validation.pipe.js';

export const API_PREFIX = 'api/v1';

/** A controller of the admin API: under /api/v1, access-checked, validated, with JSON errors. */
export function ApiController(path: string, tag: string): ClassDecorator {
  return applyDecorators(
    Controller(`${API_PREFIX}/${path}`),
    UseGuards(AdminAccessGuard),
    UsePipes(ApiValidationPipe),
    UseFilters(ApiExceptionFilter),
    ApiTags(tag),
  );
}
