// `petrel daemon`: load config, start the supervisor, map signals to its events (TERM/INT stop, HUP reload).
import { createActor } from 'xstate';
import type { Config } from '../config/load.js';
import { loadConfig } from '../config/load.js';
import { ConfigError, ConfigLoadError } from '../config/errors.js';
import { supervisorMachine } from '../actors/supervisor/machine.js';
import { Runtime } from '../actors/supervisor/runtime.js';
import { inspectOption } from '../actors/inspection.js';
import { Inspector } from '../inspector/inspector.js';
import { createLogger } from './log.js';
import { tuneHeap } from '../actors/supervisor/heap.js';

/** sysexits.h EX_CONFIG: the configuration is wrong. */
export const EXIT_CONFIG = 78;

export async function runDaemon(opts: { config?: string }): Promise<number> {
  tuneHeap();
  let config: Config;
  let runtime: Runtime;
  try {
    config = await loadConfig(opts.config);
    runtime = new Runtime(config, createLogger(config.log_level, config.log_format));
  } catch (e) {
    if (e instanceof ConfigError || e instanceof ConfigLoadError) {
      process.stderr.write(`petrel: ${e.message}\n`);
      return EXIT_CONFIG;
    }
    throw e;
  }
  const log = runtime.logger;
  runtime.sessionEntry = new URL('./session-process.js', import.meta.url);
  // The inspector's hub is in place before any actor exists; its page is mounted once the admin listener is up.
  const inspector = config.inspector.enabled
    ? new Inspector({ settings: () => runtime.config.inspector, spoolDir: config.spool_directory, logger: log })
    : undefined;
  if (inspector) {
    runtime.inspection = inspector;
    // With delivery_thread the deliveries are recorded in the thread; the inspector asks it for them.
    runtime.threadEntry = new URL('./delivery-thread.js', import.meta.url);
    inspector.remote = (q) => runtime.queryDeliveryThread(q);
  }
  const supervisor = createActor(supervisorMachine, {
    input: { runtime, restartDelayMs: 500, maxRestarts: 5 },
    ...inspectOption(runtime.inspection, 'supervisor', () => ({ pid: process.pid, config: config.source })),
  });
  supervisor.on('log', (e) => log[e.level]({ event: 'supervisor' }, e.msg));
  runtime.onServiceFailure = (service, error) => supervisor.send({ type: 'SERVICE.FAILED', service, error: error.message });

  const done = new Promise<number>((resolve) => {
    supervisor.subscribe({
      complete: () => {
        const out = supervisor.getSnapshot().output;
        if (out?.failure) log.fatal({ event: 'stopped' }, `Petrel daemon stopped: ${out.failure}`);
        else log.info({ event: 'stopped' }, 'Petrel daemon stopped');
        resolve(out?.exitCode ?? 1);
      },
      error: (err) => {
        log.fatal({ err: err instanceof Error ? err.stack : String(err) }, 'supervisor failed');
        resolve(1);
      },
    });
  });
  const stop = (signal: string): void => {
    log.info({ event: 'signal', signal }, `${signal} received: stopping (new connections refused, sessions finish up to ${config.shutdown_timeout / 1000}s)`);
    supervisor.send({ type: 'DAEMON.STOP' });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A bug in one delivery or session must not take the daemon down (it would stop all mail):
  // a stray promise rejection is logged, loudly, and the daemon carries on.
  process.on('unhandledRejection', (reason) => {
    log.error({ event: 'bug', err: reason instanceof Error ? reason.stack : String(reason) }, 'unhandled promise rejection (a bug): logged and ignored');
  });
  // petrel queue retry/thaw/bounce: look at the queue now.
  process.on('SIGUSR1', () => runtime.queue?.kick());
  process.on('SIGHUP', () => {
    log.info({ event: 'signal', signal: 'SIGHUP' }, 'SIGHUP received: reloading configuration');
    supervisor.send({ type: 'DAEMON.RELOAD' });
  });
  supervisor.start();
  const code = await done;
  inspector?.close();
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  return code;
}
