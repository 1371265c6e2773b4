import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

export const OPENAPI_PATH = 'api/docs';

/**
 * Serves the OpenAPI document of the /api routes at /api/docs (UI) and /api/docs-json.
 * Request bodies are documented from the same zod schemas that validate them.
 */
export function setupAdminOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('Berth API')
    .setDescription('Administration of the Berth registry: users, namespaces, members, robot accounts, repositories, audit log.')
    .setVersion('v1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A token from POST /api/v1/auth/login' }, 'bearer')
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'Username and password' }, 'basic')
    .addSecurityRequirements('bearer')
    .addSecurityRequirements('basic')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  // The /v2 distribution API has its own specification; this document covers /api only.
  document.paths = Object.fromEntries(Object.entries(document.paths).filter(([path]) => path.startsWith('/api/')));
  SwaggerModule.setup(OPENAPI_PATH, app, document, { jsonDocumentUrl: `${OPENAPI_PATH}-json` });
}
