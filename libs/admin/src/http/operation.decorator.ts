import { HttpCode, applyDecorators } from '@nestjs/common';
import { ApiOperation, ApiResponse } from '@nestjs/swagger';
import type { z } from 'zod';
import { apiError } from '../schemas/common.schemas.js';
import { statusName } from './status-name.js';

/** What JSON.stringify makes of a value: Dates become strings. */
type Json<T> = T extends Date ? string : T extends readonly (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

type Answer<S> = S extends z.ZodType ? z.input<S> : void;

/** Compiles only when the handler returns what its answer schema describes (no more, no less). */
type MatchingAnswer<R, S> = Same<Json<Awaited<R>>, Answer<S>> extends true ? unknown : { answerDiffersFromSchema: [Json<Awaited<R>>, Answer<S>] };

interface OperationSpec<S extends z.ZodType | undefined> {
  /** The operationId: the console's generated client names its method after it, so it stays. */
  id: string;
  summary: string;
  /** The status of success; more than one when the route picks (the first is the default). */
  status: number | readonly [number, ...number[]];
  /** The body of a success; absent when there is none (204). */
  answer?: S;
  /** Errors particular to the route (409, 405 in read-only mode…); openapi.ts adds those every route of its kind can answer. */
  errors?: readonly number[];
}

/**
 * An operation of the admin API: its status, its id and summary in the OpenAPI
 * document, its answer and its errors there, from the zod schemas that type the answer.
 */
export function Operation<S extends z.ZodType | undefined = undefined>(spec: OperationSpec<S>) {
  const statuses = typeof spec.status === 'number' ? [spec.status] : spec.status;
  return <R>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<(...args: never[]) => R> & MatchingAnswer<R, S>): void => {
    applyDecorators(
      HttpCode(statuses[0]),
      ApiOperation({ operationId: spec.id, summary: spec.summary }),
      ...statuses.map((status) => ApiResponse({ status, description: statusName(status), ...(spec.answer ? { standardSchema: spec.answer } : {}) })),
      ...(spec.errors ?? []).map((status) => ApiResponse({ status, description: statusName(status), standardSchema: apiError })),
    )(target, key, descriptor);
  };
}
