import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { InMemoryDriver } from './inmemory.driver.js';
import { STORAGE_DRIVER } from './storage-driver.js';
import { StorageModule } from './storage.module.js';

const SETTINGS = Symbol('SETTINGS');

@Module({ providers: [{ provide: SETTINGS, useValue: { driver: 'inmemory', root: '' } }], exports: [SETTINGS] })
class SettingsModule {}

describe('StorageModule', () => {
  it('provides the driver built from static settings', async () => {
    const app = await Test.createTestingModule({
      imports: [StorageModule.forRoot({ driver: 'inmemory', root: '' })],
    }).compile();
    expect(app.get(STORAGE_DRIVER)).toBeInstanceOf(InMemoryDriver);
  });

  it('provides the driver built from injected settings', async () => {
    const app = await Test.createTestingModule({
      imports: [
        StorageModule.forRootAsync({
          imports: [SettingsModule],
          inject: [SETTINGS],
          useFactory: async (settings) => settings,
        }),
      ],
    }).compile();
    expect(app.get(STORAGE_DRIVER)).toBeInstanceOf(InMemoryDriver);
  });
});
