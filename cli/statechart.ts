// `petrel statechart export [MACHINE] --format svg|mermaid|json [--out DIR]`: the actors' state
// charts, drawn from the machine definitions, for documentation (docs/statecharts/ holds them).
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { layoutChart } from '../inspector/layout.js';
import { chartOf, MACHINE_IDS, machineId, UnknownMachineError } from '../inspector/machines.js';
import { renderMermaid } from '../inspector/mermaid.js';
import { renderSvg } from '../inspector/svg.js';

/** sysexits.h EX_USAGE. */
const EXIT_USAGE = 64;

const FORMATS = { svg: 'svg', mermaid: 'mmd', json: 'json' } as const;
type Format = keyof typeof FORMATS;

async function render(id: string, format: Format): Promise<string> {
  const model = chartOf(id).model;
  if (format === 'mermaid') return renderMermaid(model);
  const laid = await layoutChart(model);
  return format === 'svg' ? renderSvg(laid) : `${JSON.stringify(laid, null, 2)}\n`;
}

export async function statechartExport(machine: string | undefined, opts: { format?: string; out?: string }, out: Writable, err: Writable): Promise<number> {
  const format = (opts.format ?? 'svg') as Format;
  if (!(format in FORMATS)) {
    err.write(`petrel: --format must be svg, mermaid or json (not ${opts.format})\n`);
    return EXIT_USAGE;
  }
  let ids: readonly string[];
  try {
    ids = machine ? [machineId(machine)] : MACHINE_IDS;
  } catch (e) {
    if (e instanceof UnknownMachineError) {
      err.write(`petrel: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
  if (opts.out) {
    const dir = resolve(opts.out);
    await mkdir(dir, { recursive: true });
    for (const id of ids) {
      const file = join(dir, `${id}.${FORMATS[format]}`);
      await writeFile(file, await render(id, format));
      out.write(`${file}\n`);
    }
    return 0;
  }
  if (ids.length === 1) {
    out.write(await render(ids[0] as string, format));
    return 0;
  }
  if (format !== 'json') {
    err.write('petrel: name a MACHINE, or give --out DIR for all of them (one file each)\n');
    return EXIT_USAGE;
  }
  const all: Record<string, unknown> = {};
  for (const id of ids) all[id] = JSON.parse(await render(id, 'json'));
  out.write(`${JSON.stringify(all, null, 2)}\n`);
  return 0;
}
