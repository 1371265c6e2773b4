import { type DynamicModule, Global, Module } from '@nestjs/common';
import { BerthConfig } from './berth-config.js';

/** Provides the one BerthConfig instance to every module. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: BerthConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: BerthConfig, useValue: config }], exports: [BerthConfig] };
  }
}
