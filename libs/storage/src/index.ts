export * from './storage-driver.js';
export { FilesystemDriver, type FilesystemOptions } from './filesystem.driver.js';
export { MAX_SENDFILE_TRANSFERS, bytesSentByFile, reserveSendfileSlot, sendFile, sendfileAvailable, sendfileDescriptor } from './sendfile.js';
export { InMemoryDriver } from './inmemory.driver.js';
export { createStorageDriver, type StorageSettings } from './create-storage-driver.js';
export type { S3Settings } from './s3/s3-settings.js';
export { blobDataPath, blobDir, uploadDataPath, uploadDir } from './paths.js';
export { StorageModule, type StorageModuleAsyncOptions } from './storage.module.js';
