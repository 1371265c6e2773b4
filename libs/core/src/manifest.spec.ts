import { MediaTypes } from './media-types.js';
import { parseManifest } from './manifest.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('parseManifest', () => {
  const image = {
    schemaVersion: 2,
    mediaType: MediaTypes.OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('a'), size: 10 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('b'), size: 20 }],
  };

  it('lists the config and layers of an image', () => {
    const parsed = parseManifest(bytes(image), MediaTypes.OCI_MANIFEST);
    expect(parsed.mediaType).toBe(MediaTypes.OCI_MANIFEST);
    expect(parsed.blobs.map((b) => b.digest)).toEqual([d('a'), d('b')]);
    expect(parsed.manifests).toEqual([]);
    expect(parsed.artifactType).toBe('application/vnd.oci.image.config.v1+json');
  });

  it('refuses a NUL byte in the fields kept as text (PostgreSQL refuses it)', () => {
    for (const manifest of [
      { ...image, annotations: { a: 'x\0' } },
      { ...image, annotations: { 'a\0': 'x' } },
      { ...image, artifactType: 'application/x\0' },
      { ...image, config: { ...image.config, mediaType: 'application/x\0' } },
    ]) {
      expect(() => parseManifest(bytes(manifest), MediaTypes.OCI_MANIFEST)).toThrow(expect.objectContaining({ code: 'MANIFEST_INVALID' }));
    }
  });

  it('lists the children of an index and reads its subject and artifactType', () => {
    const parsed = parseManifest(
      bytes({
        schemaVersion: 2,
        mediaType: MediaTypes.OCI_INDEX,
        artifactType: 'application/vnd.example',
        subject: { mediaType: MediaTypes.OCI_MANIFEST, digest: d('c'), size: 5 },
        manifests: [{ mediaType: MediaTypes.OCI_MANIFEST, digest: d('d'), size: 7, platform: { os: 'linux' } }],
      }),
    );
    expect(parsed.manifests.map((m) => m.digest)).toEqual([d('d')]);
    expect(parsed.subject?.digest).toBe(d('c'));
    expect(parsed.artifactType).toBe('application/vnd.example');
  });

  it('takes the media type from Content-Type when the body has none', () => {
    const { mediaType: _omitted, ...body } = image;
    expect(parseManifest(bytes(body), MediaTypes.DOCKER_MANIFEST).mediaType).toBe(MediaTypes.DOCKER_MANIFEST);
  });

  it.each([
    ['not JSON', Buffer.from('{nope'), 'valid JSON'],
    ['schema1', bytes({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), 'schema1'],
    ['no config', bytes({ ...image, config: undefined }), 'config'],
    ['bad layer digest', bytes({ ...image, layers: [{ mediaType: 'x', digest: 'sha256:zz', size: 1 }] }), 'digest'],
    ['negative size', bytes({ ...image, layers: [{ mediaType: 'x', digest: d('e'), size: -1 }] }), 'size'],
    ['unknown media type', bytes({ ...image, mediaType: 'application/json' }), 'unsupported'],
  ])('refuses %s with MANIFEST_INVALID', (_label, body, message) => {
    expect(() => parseManifest(body, undefined)).toThrow(expect.objectContaining({ code: 'MANIFEST_INVALID' }));
    expect(() => parseManifest(body, undefined)).toThrow(new RegExp(message, 'i'));
  });

  it('refuses a Content-Type that contradicts the body', () => {
    expect(() => parseManifest(bytes(image), MediaTypes.DOCKER_MANIFEST)).toThrow(/does not match/);
  });
});
