import { logLevel, type EachBatchPayload, type IHeaders, type LogEntry } from 'kafkajs';
import { NO_HEADERS, type Logger, type SourceRecord } from '../core/index.js';

/** kafkajs' headers as strings (a repeated header's values joined with commas). */
function headersToStrings(headers: IHeaders | undefined): Readonly<Record<string, string>> {
  if (!headers) return NO_HEADERS;
  let out: Record<string, string> | undefined;
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined) continue;
    out ??= {};
    out[k] = Array.isArray(v) ? v.map((x) => x.toString()).join(',') : v.toString();
  }
  return out ?? NO_HEADERS;
}

/**
 * A kafkajs batch's messages as source records. A function of its own, apart from the async
 * `eachBatch`: V8 compiled this loop on the stack (OSR) inside it, and that code failed a check
 * further down and was thrown away, up to 91 times in a run (--trace-deopt).
 */
export function sourceRecords(batch: EachBatchPayload['batch']): SourceRecord[] {
  const records: SourceRecord[] = new Array(batch.messages.length);
  for (let i = 0; i < batch.messages.length; i++) {
    const m = batch.messages[i]!;
    records[i] = {
      topic: batch.topic,
      partition: batch.partition,
      offset: m.offset,
      key: m.key,
      value: m.value,
      headers: headersToStrings(m.headers),
      timestamp: Number(m.timestamp),
    };
  }
  return records;
}

/** Route kafkajs' own logging into pino. */
export function kafkaLogCreator(logger: Logger) {
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log;
      if (level === logLevel.ERROR) logger.error(extra, message);
      else if (level === logLevel.WARN) logger.warn(extra, message);
      else if (level === logLevel.INFO) logger.info(extra, message);
      else logger.debug(extra, message);
    };
}
