import { Module, type DynamicModule, type FactoryProvider, type ModuleMetadata } from '@nestjs/common';
import { createStorageDriver, type StorageSettings } from './create-storage-driver.js';
import { STORAGE_DRIVER } from './storage-driver.js';

export interface StorageModuleAsyncOptions {
  imports?: ModuleMetadata['imports'];
  inject?: FactoryProvider['inject'];
  // `any` as in Nest's own FactoryProvider, so factories can declare typed parameters.
  useFactory: (...deps: any[]) => StorageSettings | Promise<StorageSettings>;
}

/** Provides STORAGE_DRIVER app-wide; import once, in the root module. */
@Module({})
export class StorageModule {
  static forRoot(settings: StorageSettings): DynamicModule {
    return StorageModule.forRootAsync({ useFactory: () => settings });
  }

  static forRootAsync(options: StorageModuleAsyncOptions): DynamicModule {
    return {
      module: StorageModule,
      global: true,
      imports: options.imports ?? [],
      providers: [
        {
          provide: STORAGE_DRIVER,
          inject: options.inject ?? [],
          useFactory: async (...deps: unknown[]) => createStorageDriver(await options.useFactory(...deps)),
        },
      ],
      exports: [STORAGE_DRIVER],
    };
  }
}
