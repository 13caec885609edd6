// Errors raised while loading configuration; each names the key (and line) at fault.

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  /** One entry per problem: "key.path: reason". */
  readonly problems: readonly string[];
  readonly file: string | undefined;

  constructor(problems: readonly string[], file?: string) {
    super(`${file ? `${file}: ` : ''}invalid configuration\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
    this.file = file;
  }
}

export class ConfigLoadError extends Error {
  readonly code = 'CONFIG_LOAD';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigLoadError';
  }
}
