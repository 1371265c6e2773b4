import { isDigest } from './digest.js';
import { RegistryError } from './error-codes.js';
import { IMAGE_MEDIA_TYPES, INDEX_MEDIA_TYPES, MediaTypes } from './media-types.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: unknown;
}

/** What the registry needs to know about a manifest; the exact bytes are kept separately. */
export interface ParsedManifest {
  mediaType: string;
  /** Config and layers (images); empty for an index. */
  blobs: Descriptor[];
  /** Child manifests (index / manifest list); empty for an image. */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** The manifest's artifactType, else its config media type (as the referrers API reports it). */
  artifactType?: string;
  annotations?: Record<string, string>;
}

const invalid = (message: string, detail?: unknown) => new RegistryError('MANIFEST_INVALID', message, detail);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw invalid(`${where}: annotations must be a map of strings`);
  }
  return value as Record<string, string>;
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where}: descriptor must be an object`);
  const { mediaType, digest, size, artifactType } = value;
  if (typeof mediaType !== 'string' || mediaType.length === 0) throw invalid(`${where}: mediaType is required`);
  if (typeof digest !== 'string' || !isDigest(digest)) throw invalid(`${where}: invalid digest`, { digest });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}: invalid size`, { size });
  if (artifactType !== undefined && typeof artifactType !== 'string') throw invalid(`${where}: artifactType must be a string`);
  return {
    mediaType,
    digest,
    size,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(value.annotations !== undefined ? { annotations: parseAnnotations(value.annotations, where) } : {}),
    ...(value.platform !== undefined ? { platform: value.platform } : {}),
  };
}

function parseDescriptorList(value: unknown, field: string): Descriptor[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`${field} must be an array`);
  return value.map((item, i) => parseDescriptor(item, `${field}[${i}]`));
}

function detectMediaType(body: Record<string, unknown>, contentType: string | undefined): string {
  if (typeof body.mediaType === 'string') return body.mediaType;
  if (contentType && (IMAGE_MEDIA_TYPES.has(contentType) || INDEX_MEDIA_TYPES.has(contentType))) return contentType;
  // OCI allows omitting mediaType; fall back on the shape.
  if (Array.isArray(body.manifests)) return MediaTypes.OCI_INDEX;
  if (isObject(body.config)) return MediaTypes.OCI_MANIFEST;
  return contentType ?? '';
}

/** Parses and validates a manifest's JSON; throws MANIFEST_INVALID with a reason. */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  const manifest = parseManifestFields(bytes, contentType);
  refuseNulBytes(manifest);
  return manifest;
}

/**
 * The fields kept as text beside the exact bytes (media type, artifact type, annotations)
 * cannot hold a NUL byte: PostgreSQL refuses it in text and jsonb.
 */
function refuseNulBytes(manifest: ParsedManifest): void {
  const texts = [manifest.mediaType, manifest.artifactType ?? '', ...Object.entries(manifest.annotations ?? {}).flat()];
  if (texts.some((text) => text.includes('\0'))) throw invalid('the media type, artifactType and annotations must not hold a NUL byte');
}

function parseManifestFields(bytes: Uint8Array, contentType?: string): ParsedManifest {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (!isObject(body)) throw invalid('manifest must be a JSON object');
  const type = contentType?.split(';')[0].trim().toLowerCase();
  if (body.schemaVersion === 1 || type === MediaTypes.DOCKER_SCHEMA1 || type === MediaTypes.DOCKER_SCHEMA1_SIGNED) {
    throw invalid('Docker schema1 manifests are not supported: push with schema2 or OCI');
  }
  if (body.schemaVersion !== 2) throw invalid('schemaVersion must be 2');

  const mediaType = detectMediaType(body, type);
  if (type && (IMAGE_MEDIA_TYPES.has(type) || INDEX_MEDIA_TYPES.has(type)) && type !== mediaType) {
    throw invalid(`Content-Type ${type} does not match the manifest's mediaType ${mediaType}`);
  }
  const subject = body.subject === undefined ? undefined : parseDescriptor(body.subject, 'subject');
  const annotations = parseAnnotations(body.annotations, 'manifest');
  if (body.artifactType !== undefined && typeof body.artifactType !== 'string') throw invalid('artifactType must be a string');
  const declaredArtifactType = body.artifactType as string | undefined;

  if (IMAGE_MEDIA_TYPES.has(mediaType)) {
    const config = parseDescriptor(body.config, 'config');
    const layers = parseDescriptorList(body.layers, 'layers');
    return {
      mediaType,
      blobs: [config, ...layers],
      manifests: [],
      subject,
      artifactType: declaredArtifactType ?? config.mediaType,
      annotations,
    };
  }
  if (INDEX_MEDIA_TYPES.has(mediaType)) {
    if (!Array.isArray(body.manifests)) throw invalid('an index must have a manifests array');
    return {
      mediaType,
      blobs: [],
      manifests: parseDescriptorList(body.manifests, 'manifests'),
      subject,
      artifactType: declaredArtifactType,
      annotations,
    };
  }
  throw invalid(`unsupported manifest media type: ${mediaType || '(none)'}`);
}
