/** A webhook URL the target policy refuses; its message says why and how to allow it. */
export class TargetNotAllowedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetNotAllowedError';
  }
}
