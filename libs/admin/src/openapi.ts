import type { INestApplication } from '@nestjs/common';
import { MetadataScanner, ModulesContainer } from '@nestjs/core';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { z } from 'zod';
import { PUBLIC_ROUTE } from './auth.js';
import { statusName } from './http/status-name.js';
import { loginBody, loginToken } from './schemas/auth.schemas.js';
import { apiError } from './schemas/common.schemas.js';

export const OPENAPI_PATH = 'api/docs';

type OperationObject = NonNullable<OpenAPIObject['paths'][string]['get']>;
type Schema = Record<string, unknown>;

/** Errors that every operation can answer (a crash), and every protected one (no, bad or throttled credentials; a robot). */
const ANY_ROUTE = [500];
const PROTECTED = [401, 403, 429];
/** A public operation (the login) is throttled too. */
const PUBLIC = [429];

/**
 * Serves the OpenAPI document of the /api routes at /api/docs (UI) and /api/docs-json.
 * Built at the first request for either, not at start-up: most registries never serve it.
 */
export function setupAdminOpenApi(app: INestApplication): void {
  SwaggerModule.setup(OPENAPI_PATH, app, () => buildAdminOpenApi(app), { jsonDocumentUrl: `${OPENAPI_PATH}-json` });
}

/**
 * The document: request bodies, answers and errors come from the zod schemas (named
 * ones become components); operations the global guard lets through (@Public) carry no
 * security requirement, the others bearer or basic.
 */
function buildAdminOpenApi(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Berth API')
    .setDescription('Administration of the Berth registry: users, namespaces, members, robot accounts, repositories, webhooks, garbage collection, audit log.')
    .setVersion('v1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A token from POST /api/v1/auth/login' }, 'bearer')
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'Username and password' }, 'basic')
    .addSecurityRequirements('bearer')
    .addSecurityRequirements('basic')
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    // Pinned to Nest's default: publicHandlers() names handlers the same way.
    operationIdFactory: (controller, method) => `${controller}_${method}`,
  });
  // The /v2 distribution API has its own specification; this document covers /api only.
  document.paths = Object.fromEntries(Object.entries(document.paths).filter(([path]) => path.startsWith('/api/')));
  const operations = Object.values(document.paths).flatMap((pathItem) => Object.values(pathItem) as OperationObject[]);
  const publicIds = publicHandlers(app);
  for (const operation of operations) if (publicIds.has(operation.operationId!)) operation.security = [];
  const schemas = (document.components!.schemas ??= {});
  describeLogin(document, schemas);
  componentRef(apiError, 'output', schemas);
  for (const operation of operations) addErrors(operation, operation.security?.length === 0);
  return document;
}

/** `Controller_method` of every handler the global guard lets through without credentials. */
function publicHandlers(app: INestApplication): Set<string> {
  const ids = new Set<string>();
  const scanner = new MetadataScanner();
  for (const module of app.get(ModulesContainer).values()) {
    for (const { metatype, instance } of module.controllers.values()) {
      if (!metatype || !instance) continue;
      const prototype = Object.getPrototypeOf(instance);
      for (const method of scanner.getAllMethodNames(prototype)) {
        if (Reflect.getMetadata(PUBLIC_ROUTE, prototype[method]) || Reflect.getMetadata(PUBLIC_ROUTE, metatype)) ids.add(`${metatype.name}_${method}`);
      }
    }
  }
  return ids;
}

/** The login route belongs to the auth library, which knows no OpenAPI: described here. */
function describeLogin(document: OpenAPIObject, schemas: Record<string, unknown>): void {
  const operation = document.paths['/api/v1/auth/login']?.post;
  if (!operation) throw new Error('OpenAPI: POST /api/v1/auth/login is not mapped');
  Object.assign(operation, {
    operationId: 'login',
    summary: 'Exchange a username and password for an API token (no credentials needed)',
    tags: ['auth'],
    requestBody: { required: true, content: { 'application/json': { schema: componentRef(loginBody, 'input', schemas) } } },
    responses: {
      200: { description: statusName(200), content: { 'application/json': { schema: componentRef(loginToken, 'output', schemas) } } },
      // A missing field is a failed login too; robots get 403.
      ...errorResponses([401, 403]),
    },
  });
}

/** Adds the errors an operation can answer by its shape to those it declares. */
function addErrors(operation: OperationObject, isPublic: boolean): void {
  const parameters = (operation.parameters ?? []) as { in?: string }[];
  const statuses = [...ANY_ROUTE, ...(isPublic ? PUBLIC : PROTECTED)];
  if (operation.requestBody) statuses.push(400, 413);
  if (parameters.length) statuses.push(400);
  if (parameters.some((p) => p.in === 'path')) statuses.push(404);
  const responses = { ...errorResponses(statuses), ...operation.responses };
  operation.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
}

function errorResponses(statuses: number[]) {
  const body = { 'application/json': { schema: { $ref: '#/components/schemas/ApiError' } } };
  return Object.fromEntries(statuses.map((status) => [status, { description: statusName(status), content: body }]));
}

/** The schema as a `$ref` to its component, its named parts added to `schemas` (as Nest's own converter does). */
function componentRef(schema: z.ZodType, io: 'input' | 'output', schemas: Record<string, unknown>): Schema {
  const json = JSON.stringify(z.toJSONSchema(schema, { target: 'openapi-3.0', io })).replaceAll('"#/definitions/', '"#/components/schemas/');
  const { definitions, ...root } = JSON.parse(json) as Schema & { definitions?: Record<string, Schema> };
  Object.assign(schemas, definitions);
  return root;
}
