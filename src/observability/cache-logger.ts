/**
 * The logger hook. The cache logs lifecycle facts only (state changes, URLs, versions, error
 * messages from the sync loop); it never logs the shared secret, tokens or record contents.
 */

export type DatabrokerCacheLogLevel = "debug" | "info" | "warn" | "error";

/** Structured, secret-free facts attached to a log line. */
export type DatabrokerCacheLogAttributes = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * Any object with these methods (console, pino, winston adapters). Missing methods are skipped.
 * A throwing logger is ignored: logging never breaks syncing.
 */
export interface DatabrokerCacheLogger {
  debug?(message: string, attributes?: DatabrokerCacheLogAttributes): void;
  info?(message: string, attributes?: DatabrokerCacheLogAttributes): void;
  warn?(message: string, attributes?: DatabrokerCacheLogAttributes): void;
  error?(message: string, attributes?: DatabrokerCacheLogAttributes): void;
}

export type CacheLog = (level: DatabrokerCacheLogLevel, message: string, attributes?: DatabrokerCacheLogAttributes) => void;

/** Wraps a user logger so a missing method or a throwing one cannot hurt the caller. */
export function cacheLog(logger: DatabrokerCacheLogger | undefined): CacheLog {
  if (logger === undefined) return () => {};
  return (level, message, attributes) => {
    try {
      logger[level]?.(message, attributes);
    } catch {
      // A broken logger must not stop the sync loop.
    }
  };
}
