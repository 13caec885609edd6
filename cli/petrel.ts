#!/usr/bin/env node
// The petrel command: daemon, config check, queue inspection.
import { Command } from 'commander';
import { runDaemon } from './daemon.js';
import { configCheck } from './config-check.js';
import { queueCount, queueList, queueShow } from './queue.js';

function finish(code: number): void {
  process.exitCode = code;
}

const program = new Command();
program.name('petrel').description('Petrel: an actor-based concurrent mail transfer agent').showHelpAfterError();

program
  .command('daemon')
  .description('run the MTA (embedded default config unless --config is given)')
  .option('-c, --config <file>', 'config file (.json, .js, .mjs or .ts)')
  .action(async (o: { config?: string }) => {
    const code = await runDaemon(o);
    process.exit(code);
  });

const config = program.command('config').description('configuration tools');
config
  .command('check [file]')
  .description('validate a config file (or the embedded default) and report every problem')
  .action(async (file: string | undefined) => finish(await configCheck(file, process.stdout, process.stderr)));

const queue = program.command('queue').description('inspect the spool').option('-c, --config <file>', 'config file naming the spool');
const qopts = (): { config?: string } => queue.opts<{ config?: string }>();
queue
  .command('list')
  .description('every queued message with its recipients')
  .option('--json', 'JSON output')
  .action(async (o: { json?: boolean }) => finish(await queueList({ ...qopts(), ...o }, process.stdout)));
queue
  .command('show <id>')
  .description("a message's envelope and headers")
  .option('--json', 'JSON output')
  .option('--body', 'print the body too')
  .action(async (id: string, o: { json?: boolean; body?: boolean }) => finish(await queueShow(id, { ...qopts(), ...o }, process.stdout, process.stderr)));
for (const [action, about] of [
  ['retry', 'make deferred recipients due now (and thaw); the daemon is told to look'],
  ['delete', 'remove messages from the queue, without a report'],
  ['freeze', 'stop delivery attempts for messages until thawed'],
  ['thaw', 'let frozen messages be delivered again'],
  ['bounce', 'fail every open recipient now and send the sender a report'],
] as const) {
  const cmd = queue.command(`${action} [ids...]`).description(about);
  if (action === 'retry') cmd.option('--all', 'every queued message');
  cmd.action(async (ids: string[], o: { all?: boolean }) => {
    const { queueAdmin } = await import('./queue-admin.js');
    finish(await queueAdmin(action, ids, { ...qopts(), ...o }, process.stdout, process.stderr));
  });
}
queue
  .command('count')
  .description('number of queued messages')
  .action(async () => finish(await queueCount(qopts(), process.stdout)));

program
  .command('bench')
  .description('benchmark Petrel side by side with Postfix and smtp-sink (petrel bench --help)')
  .helpOption(false)
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async () => {
    // The harness parses its own arguments (scenarios, --peers, --messages, ...).
    const { main } = await import('../bench/main.js');
    finish(await main(process.argv.slice(process.argv.indexOf('bench') + 1)));
  });

await program.parseAsync(process.argv);
