// Exim-style time and size values in config: "30s", "5m", "1h", "2d", "500ms"; "50M", "64K", "1G".

/** Parse a time ("5m", "30s", "1h30m", "250ms", or a number of seconds) into milliseconds. */
export function parseTime(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : null;
  const s = value.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const n = Number(m[1]);
    const unit = m[2];
    const scale = unit === 'ms' ? 1 : unit === 's' ? 1e3 : unit === 'm' ? 6e4 : unit === 'h' ? 3.6e6 : unit === 'd' ? 8.64e7 : 6.048e8;
    total += n * scale;
    matched = re.lastIndex;
  }
  return matched === s.length && s.length > 0 ? Math.round(total) : null;
}

/** Parse a size ("50M", "64K", "1G", or a number of octets) into octets. */
export function parseSize(value: string | number): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : null;
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]?)B?$/i.exec(value.trim());
  if (!m) return null;
  const unit = (m[2] ?? '').toUpperCase();
  const scale = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1;
  return Math.round(Number(m[1]) * scale);
}

/** A "host:port" listen address; IPv6 hosts are written in brackets: "[::1]:25". */
export function parseHostPort(value: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null; // port 0: any free port (tests; the ready log line tells which)
  return { host: (m[1] ?? m[2]) as string, port };
}
