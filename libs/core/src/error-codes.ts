/** The OCI distribution error codes Berth answers with, and the HTTP status of each. */
export const ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  MANIFEST_TOO_LARGE: { status: 413, message: 'manifest too large' },
  BLOB_TOO_LARGE: { status: 413, message: 'blob too large for the storage' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  NOT_FOUND: { status: 404, message: 'no such route' },
  // Malformed input no spec code describes (a NUL byte in credentials or a query parameter).
  BAD_REQUEST: { status: 400, message: 'bad request' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  UNKNOWN: { status: 500, message: 'unknown error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Thrown by services; rendered by one exception filter as the spec's `{"errors":[…]}` body. */
export class RegistryError extends Error {
  readonly status: number;
  /** Some codes share a name with another status (413 manifest or blob too large is reported as SIZE_INVALID). */
  readonly wireCode: string;

  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly detail?: unknown,
    /** Response headers the error needs, such as Content-Range with a 416. */
    readonly headers?: Record<string, string>,
  ) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'RegistryError';
    this.status = ERROR_CODES[code].status;
    this.wireCode = code === 'MANIFEST_TOO_LARGE' || code === 'BLOB_TOO_LARGE' ? 'SIZE_INVALID' : code;
  }

  toBody(): { errors: { code: string; message: string; detail?: unknown }[] } {
    return { errors: [{ code: this.wireCode, message: this.message, detail: this.detail ?? {} }] };
  }
}
