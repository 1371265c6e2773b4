/** How the S3 driver reaches its bucket. Credentials come from the AWS SDK's default chain. */
export interface S3Settings {
  bucket: string;
  region: string;
  /** An S3-compatible endpoint (MinIO, Ceph, ...); absent → AWS S3 for the region. */
  endpoint?: string;
  /** The endpoint presigned URLs name, when clients reach the store at another address than Berth does. */
  publicEndpoint?: string;
  /** `endpoint/bucket/key` URLs instead of `bucket.endpoint/key`; most S3-compatible stores need it. */
  forcePathStyle: boolean;
  /** Key prefix everything is stored under: `''` or segments ending in `/`, e.g. `registry/`. */
  prefix: string;
  /** Answer blob GETs with a presigned URL to the bucket instead of streaming the bytes. */
  redirect: boolean;
  redirectExpirySeconds: number;
  /** Bytes per stored piece of a file being written, and the most a writer buffers; 5 MiB or more. */
  partSize?: number;
  /** Parts an assembled object may have: S3's 10,000 unless a test needs a smaller limit. */
  maxParts?: number;
}
