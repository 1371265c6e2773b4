export const MediaTypes = {
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  OCI_EMPTY: 'application/vnd.oci.empty.v1+json',
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  DOCKER_MANIFEST_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DOCKER_SCHEMA1: 'application/vnd.docker.distribution.manifest.v1+json',
  DOCKER_SCHEMA1_SIGNED: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Manifest kinds whose entries are other manifests. */
export const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaTypes.OCI_INDEX, MediaTypes.DOCKER_MANIFEST_LIST]);
/** Manifest kinds whose entries are blobs (config and layers). */
export const IMAGE_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaTypes.OCI_MANIFEST, MediaTypes.DOCKER_MANIFEST]);
