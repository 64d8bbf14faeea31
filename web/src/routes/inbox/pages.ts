// Keyset pages of the conversation list (newest id first) kept consistent while live.

interface WithId {
  id: string;
}

/**
 * What is loaded after the first page was fetched again: that page as the server sees it
 * now, then the rows already loaded below its last id (ids are time ordered and the list is
 * newest first, so those are exactly the later pages). With no further page (`nextCursor`
 * null) the fresh page is the whole list. Rows that left the filter inside the first page's
 * range disappear; rows below it wait for their own page to be fetched again.
 */
export function mergeFirstPage<T extends WithId>(current: T[] | null, fresh: T[], nextCursor: string | null): T[] {
  if (!current || nextCursor === null || fresh.length === 0) return fresh;
  const boundary = fresh[fresh.length - 1].id;
  const seen = new Set(fresh.map((c) => c.id));
  return [...fresh, ...current.filter((c) => c.id < boundary && !seen.has(c.id))];
}
