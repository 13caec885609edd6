#!/usr/bin/env node
// The petrel command: daemon, config check, queue inspection, and the auth, dkim and dmarc tools.
import { Command } from 'commander';
// Every subcommand's module is imported when it runs: `petrel auth spf` does not load the daemon.

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
    const { runDaemon } = await import('./daemon.js');
    const code = await runDaemon(o);
    process.exit(code);
  });

const config = program.command('config').description('configuration tools');
config
  .command('check [file]')
  .description('validate a config file (or the embedded default) and report every problem')
  .action(async (file: string | undefined) => {
    const { configCheck } = await import('./config-check.js');
    finish(await configCheck(file, process.stdout, process.stderr));
  });

const queue = program.command('queue').description('inspect the spool').option('-c, --config <file>', 'config file naming the spool');
const qopts = (): { config?: string } => queue.opts<{ config?: string }>();
queue
  .command('list')
  .description('every queued message with its recipients')
  .option('--json', 'JSON output')
  .action(async (o: { json?: boolean }) => {
    const { queueList } = await import('./queue.js');
    finish(await queueList({ ...qopts(), ...o }, process.stdout));
  });
queue
  .command('show <id>')
  .description("a message's envelope and headers")
  .option('--json', 'JSON output')
  .option('--body', 'print the body too')
  .action(async (id: string, o: { json?: boolean; body?: boolean }) => {
    const { queueShow } = await import('./queue.js');
    finish(await queueShow(id, { ...qopts(), ...o }, process.stdout, process.stderr));
  });
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
  .action(async () => {
    const { queueCount } = await import('./queue.js');
    finish(await queueCount(qopts(), process.stdout));
  });

const auth = program.command('auth').description('SPF, DKIM, DMARC and ARC verdicts on the command line');
auth
  .command('report <file>')
  .description('JSON: SPF, each DKIM signature, DMARC, ARC and the Authentication-Results Petrel would add to a message')
  .option('--dns-cache <file>', 'answer DNS from this fixture (JSON) instead of the network')
  .option('--dns-server <host:port>', 'ask this DNS server instead of those of /etc/resolv.conf')
  .option('--client-ip <ip>', 'the SMTP client address (SPF is checked only with it)')
  .option('--helo <name>', 'the HELO/EHLO name')
  .option('--sender <addr>', 'the MAIL FROM address ("" for <>; default: the Return-Path field)')
  .option('--now <unixtime>', 'the clock, seconds since the epoch')
  .option('--authserv-id <id>', 'authserv-id of the Authentication-Results (default: this host name)')
  .option('--seal <spec>', 'ADMD:SELECTOR:KEYFILE[:timestamps,expire[=N|+N]]: also print the ARC set Petrel would add')
  .action(async (file: string, o: Record<string, string | undefined>) => {
    const { authReport } = await import('./auth.js');
    finish(await authReport(file, o, process.stdout, process.stderr));
  });
auth
  .command('spf')
  .description('JSON: check_host() for the MAIL FROM identity, or the HELO identity when the sender is empty')
  .requiredOption('--ip <ip>', 'the SMTP client address')
  .requiredOption('--helo <name>', 'the HELO/EHLO name')
  .option('--sender <addr>', 'the MAIL FROM address ("" or absent: check the HELO identity)')
  .option('--dns-cache <file>', 'answer DNS from this fixture (JSON) instead of the network')
  .option('--dns-server <host:port>', 'ask this DNS server instead of those of /etc/resolv.conf')
  .option('--receiver <name>', 'our host name, for %{r} (default: this host name)')
  .option('--now <unixtime>', 'the clock for %{t}, seconds since the epoch')
  .action(async (o: { ip: string; helo: string }) => {
    const { authSpf } = await import('./auth.js');
    finish(await authSpf(o, process.stdout, process.stderr));
  });

const dkim = program.command('dkim').description('DKIM signing and keys');
dkim
  .command('sign <file>')
  .description('print the message with a DKIM-Signature field on top')
  .requiredOption('--domain <domain>', 'd=')
  .requiredOption('--selector <selector>', 's=')
  .requiredOption('--key <file>', 'private key: PEM (RSA or Ed25519) or the bare base64 Ed25519 seed')
  .option('--headers <list>', 'fields to sign, colon-separated, each as often as present; +name oversigns (default: RFC 6376 list, From oversigned)')
  .option('--header-list <list>', 'the exact h= list, used as it is')
  .option('--canon <c>', 'c=: relaxed (default) or simple for both, or header/body such as relaxed/simple')
  .option('--algorithm <a>', 'rsa-sha256 or ed25519-sha256 (default: from the key)')
  .option('--identity <i>', 'i=, "local@domain" or "@domain" within d=')
  .option('--now <unixtime>', 't=, seconds since the epoch (default: now)')
  .option('--no-timestamp', 'no t=')
  .option('--expire <seconds>', 'x=, this many seconds after t=')
  .option('--query-method', 'write q=dns/txt')
  .option('--spaced-header-list', 'write h= as "from : to : subject" (the RFC examples\' layout)')
  .action(async (file: string, o: { domain: string; selector: string; key: string }) => {
    const { dkimSign } = await import('./dkim.js');
    finish(await dkimSign(file, o, process.stdout, process.stderr));
  });
dkim
  .command('keygen')
  .description('write a private key (PEM, mode 0600) and print its DNS TXT record')
  .requiredOption('--type <type>', 'rsa or ed25519')
  .requiredOption('--domain <domain>', 'the signing domain')
  .requiredOption('--selector <selector>', 'the selector')
  .option('--bits <n>', 'RSA modulus size (default 2048)')
  .option('--out <file>', 'where the private key goes (default: <selector>._domainkey.<domain>.key)')
  .option('--force', 'replace an existing key file')
  .action(async (o: { type: string; domain: string; selector: string }) => {
    const { dkimKeygen } = await import('./dkim.js');
    finish(await dkimKeygen(o, process.stdout, process.stderr));
  });

const dmarc = program.command('dmarc').description('DMARC reports');
dmarc
  .command('report')
  .description('RFC 7489 aggregate reports from the DMARC history file, to verified rua= destinations')
  .option('-c, --config <file>', 'config file (spool, primary_hostname, dsn_from, dmarc_history_file)')
  .option('--history <file>', 'the history file (default: dmarc_history_file of the config)')
  .option('--period <day>', 'report the UTC day YYYY-MM-DD (default: yesterday)')
  .option('--from <time>', 'period start: seconds since the epoch or ISO 8601')
  .option('--to <time>', 'period end (exclusive): seconds since the epoch or ISO 8601')
  .option('--reporter <name>', 'our name in the file name and Subject (default: primary_hostname)')
  .option('--org-name <name>', 'report_metadata/org_name (default: the reporter)')
  .option('--email <addr>', 'report_metadata/email, the From: and envelope sender (default: dsn_from, null sender)')
  .option('--extra-contact-info <text>', 'report_metadata/extra_contact_info')
  .option('--out <dir>', 'write the gzipped reports and their mail messages here')
  .option('--queue', 'put the report mails in the spool and tell the daemon')
  .option('--dns-cache <file>', 'answer DNS from this fixture (JSON) instead of the network')
  .option('--dns-server <host:port>', 'ask this DNS server instead of those of /etc/resolv.conf')
  .option('--now <unixtime>', 'the clock, seconds since the epoch')
  .action(async (o: Record<string, string | boolean | undefined>) => {
    const { dmarcReport } = await import('./dmarc-report.js');
    finish(await dmarcReport(o, process.stdout, process.stderr));
  });

program
  .command('inspect')
  .description("print the URL of the running daemon's state-chart inspector")
  .option('-c, --config <file>', 'config file naming the spool the daemon runs on')
  .option('--json', 'JSON: url, pid and admin address')
  .action(async (o: { config?: string; json?: boolean }) => {
    const { inspect } = await import('./inspect.js');
    finish(await inspect(o, process.stdout, process.stderr));
  });
program
  .command('statechart')
  .description('state charts of the actors, drawn from their machine definitions')
  .command('export [machine]')
  .description('write a chart (or all, with --out) as SVG, mermaid or JSON')
  .option('-f, --format <format>', 'svg, mermaid or json', 'svg')
  .option('-o, --out <dir>', 'write one file per machine into this directory')
  .action(async (machine: string | undefined, o: { format?: string; out?: string }) => {
    const { statechartExport } = await import('./statechart.js');
    finish(await statechartExport(machine, o, process.stdout, process.stderr));
  });

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
