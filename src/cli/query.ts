import { loadConfig } from '../config/index.js';
import { createLogger } from '../core/index.js';
import { createClickHouseClient } from '../storage/index.js';

/** Runs one SQL statement against the configured store (useful for the embedded engine). */
export async function query(configPath: string, sql: string, format: string): Promise<string> {
  const config = await loadConfig(configPath);
  const client = await createClickHouseClient(
    { ...config.storage, baseDir: config.baseDir },
    createLogger({ level: 'silent' }),
  );
  try {
    // exec, not query: the client's query() only accepts the formats it can parse, and this just prints.
    const trimmed = sql.trim().replace(/;$/, '');
    // Only statements that return rows take a FORMAT; the rest (INSERT, CREATE, ...) run as commands.
    if (!/^(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b/i.test(trimmed)) {
      await client.command({ query: trimmed });
      return '';
    }
    const withFormat = /\bFORMAT\s+\w+\s*$/i.test(trimmed) ? trimmed : `${trimmed} FORMAT ${format}`;
    const { stream } = await client.exec({ query: withFormat });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await client.close();
  }
}
