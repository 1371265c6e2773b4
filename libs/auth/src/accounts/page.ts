export interface PageRequest {
  /** 1-based. */
  page: number;
  perPage: number;
}

export interface Page<T> {
  items: T[];
  page: number;
  perPage: number;
  total: number;
}

export function pageOffset(request: PageRequest): number {
  return (request.page - 1) * request.perPage;
}
