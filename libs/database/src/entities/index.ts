import { BlobEntity } from './blob.entity.js';
import { ManifestReferenceEntity } from './manifest-reference.entity.js';
import { ManifestEntity } from './manifest.entity.js';
import { RepositoryBlobEntity } from './repository-blob.entity.js';
import { RepositoryEntity } from './repository.entity.js';
import { TagEntity } from './tag.entity.js';
import { UploadEntity } from './upload.entity.js';
import { AuditEntryEntity } from './audit-entry.entity.js';
import { MembershipEntity } from './membership.entity.js';
import { NamespaceEntity } from './namespace.entity.js';
import { RobotEntity } from './robot.entity.js';
import { UserEntity } from './user.entity.js';

export {
  AuditEntryEntity,
  BlobEntity,
  ManifestEntity,
  ManifestReferenceEntity,
  MembershipEntity,
  NamespaceEntity,
  RepositoryBlobEntity,
  RepositoryEntity,
  RobotEntity,
  TagEntity,
  UploadEntity,
  UserEntity,
};
export type { NamespaceKind, Visibility } from './namespace.entity.js';
export type { Role } from './membership.entity.js';
export type { RegistryAction } from './robot.entity.js';

export const ENTITIES = [
  RepositoryEntity,
  BlobEntity,
  RepositoryBlobEntity,
  ManifestEntity,
  ManifestReferenceEntity,
  TagEntity,
  UploadEntity,
  UserEntity,
  NamespaceEntity,
  MembershipEntity,
  RobotEntity,
  AuditEntryEntity,
];
