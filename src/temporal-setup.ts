/** Namespace setup the workflows rely on: the search attributes they upsert must be registered. */
import type { NativeConnection } from '@temporalio/worker';
import { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from './shared/search-attributes';

const GRPC_ALREADY_EXISTS = 6;

const INDEXED_VALUE_TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  [SearchAttributeType.KEYWORD]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.TEXT]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
};

/** `--search-attribute` flags for `temporal server start-dev`. */
export function devServerSearchAttributeFlags(): string[] {
  return SEARCH_ATTRIBUTES.flatMap((key) => [
    '--search-attribute',
    `${key.name}=${key.type === SearchAttributeType.KEYWORD ? 'Keyword' : 'Text'}`,
  ]);
}

/**
 * Register any missing search attribute on `namespace` (idempotent). Throws with a one-line fix when the server
 * refuses (e.g. no operator permission): without them every workflow task that upserts would fail.
 */
export async function ensureSearchAttributes(
  connection: NativeConnection,
  namespace: string,
): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set([
    ...Object.keys(existing.customAttributes ?? {}),
    ...Object.keys(existing.systemAttributes ?? {}),
  ]);
  const missing = SEARCH_ATTRIBUTES.filter((key) => !known.has(key.name));
  if (missing.length === 0) return [];
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_VALUE_TYPE[key.type]!])),
    });
  } catch (error) {
    if ((error as { code?: number }).code === GRPC_ALREADY_EXISTS) return []; // another worker won the race
    const names = missing.map((k) => `${k.name}=Keyword`).join(', ');
    throw new Error(
      `cannot register search attributes ${names} on namespace ${namespace} (${(error as Error).message}); create them with \`temporal operator search-attribute create --namespace ${namespace} --name <NAME> --type Keyword\``,
    );
  }
  return missing.map((k) => k.name);
}
