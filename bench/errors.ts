// Errors that cross a boundary of the benchmark harness: each class carries a stable `code`.

/** Codes of load generator failures (the SMTP client and its child processes). */
export type LoadgenErrorCode =
  | 'ERR_LOADGEN_OPTIONS'
  | 'ERR_LOADGEN_CONNECT'
  | 'ERR_LOADGEN_TIMEOUT'
  | 'ERR_LOADGEN_CLOSED'
  | 'ERR_LOADGEN_PROTOCOL'
  | 'ERR_LOADGEN_WORKER';

export class LoadgenError extends Error {
  override readonly name = 'LoadgenError';
  readonly code: LoadgenErrorCode;

  constructor(code: LoadgenErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Codes of peer management failures (install, start, stop of Postfix, smtp-sink, Petrel). */
export type PeerErrorCode =
  | 'ERR_PEER_UNKNOWN'
  | 'ERR_PEER_INSTALL'
  | 'ERR_PEER_START'
  | 'ERR_PEER_STOP'
  | 'ERR_PEER_COMMAND';

export class PeerError extends Error {
  override readonly name = 'PeerError';
  readonly code: PeerErrorCode;

  constructor(code: PeerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Codes of runner failures (bad options, unknown scenario), and of a scenario's check that the run
 * measured what it claims to (ERR_BENCH_CHECK: e.g. no dkim=pass on the messages of inbound-verify).
 */
export type BenchErrorCode = 'ERR_BENCH_OPTIONS' | 'ERR_BENCH_SCENARIO' | 'ERR_BENCH_ABORTED' | 'ERR_BENCH_CHECK';

export class BenchError extends Error {
  override readonly name = 'BenchError';
  readonly code: BenchErrorCode;

  constructor(code: BenchErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A one-line description of anything thrown, for reports and logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
