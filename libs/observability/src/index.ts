export { requestIdOf } from './http/request-id.js';
export { RequestObserver } from './http/request-observer.js';
export { createLogger } from './logging/logger.js';
export { PinoNestLogger } from './logging/pino-nest.logger.js';
export { ObservabilityModule } from './observability.module.js';
