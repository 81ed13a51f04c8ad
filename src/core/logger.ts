import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** The root logger; modules take `logger.child({ module })` from it (pino JSON on stdout). */
export function createLogger(options: { level: string; destination?: number }): Logger {
  const opts: LoggerOptions = { level: options.level, base: { service: 'megaservice' } };
  return pino(opts, pino.destination({ fd: options.destination ?? 1, sync: false }));
}
