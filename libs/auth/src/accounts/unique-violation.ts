/** True for Postgres' unique_violation: a concurrent request created the same name first. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string; driverError?: { code?: string } } | null)?.driverError?.code ?? (err as { code?: string } | null)?.code;
  return code === '23505';
}
