// The configuration file's schema: every key, its type, its default, and its check.
import { z } from 'zod';
import { DEFAULT_RCPT_ACL } from './defaults.js';
import { parseHostPort, parseSize, parseTime } from './units.js';

/** A list: an array of items, or one Exim-style string ("a : b : c", "<; a ; b"). */
const list = z.union([z.string(), z.array(z.string())]);

const time = z.union([z.string(), z.number()]).refine((v) => parseTime(v) !== null, {
  message: 'expected a time such as "30s", "5m", "1h" or a number of seconds',
});
const size = z.union([z.string(), z.number()]).refine((v) => parseSize(v) !== null, {
  message: 'expected a size such as "50M", "64K" or a number of octets',
});
const hostPort = z.string().refine((v) => parseHostPort(v) !== null, {
  message: 'expected "host:port" (IPv6 as "[::1]:25")',
});
const count = z.number().int().min(0);

export const ACL_STAGES = ['connect', 'helo', 'mail', 'rcpt', 'predata', 'data'] as const;

export const configSchema = z
  .object({
    primary_hostname: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'expected a host name').optional(),
    listen: z.array(hostPort).min(1).default(['127.0.0.1:2525']),
    tls_on_connect_ports: z.array(z.number().int().min(1).max(65535)).default([]),
    spool_directory: z.string().min(1).default('./var/spool'),
    /** The admin HTTP listener (/metrics, /health, the inspector); false: none. */
    admin_listen: z.union([hostPort, z.literal(false)]).default('127.0.0.1:9925'),
    /** Bearer token required from anything but loopback on admin_listen. */
    admin_token: z.string().min(16, 'use at least 16 characters').optional(),
    log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    log_format: z.enum(['auto', 'json', 'pretty']).default('auto'),

    local_domains: list.default(['@', 'localhost']),
    relay_to_domains: list.default([]),
    relay_from_hosts: list.default(['127.0.0.1']),
    domainlists: z.record(z.string(), list).default({}),
    hostlists: z.record(z.string(), list).default({}),
    addresslists: z.record(z.string(), list).default({}),
    localpartlists: z.record(z.string(), list).default({}),
    local_users: list.default(['*']),

    message_size_limit: size.default('50M'),
    recipients_max: count.default(50000),
    header_maxsize: size.default('1M'),
    message_linelength_limit: z.number().int().min(78).default(998),
    smtp_bare_newline: z.enum(['reject', 'normalize']).default('reject'),
    smtp_accept_max: count.default(1000),
    smtp_accept_max_per_host: count.default(100),
    smtp_max_synprot_errors: count.default(3),
    smtp_max_unknown_commands: count.default(3),
    smtp_banner: z.string().default('$primary_hostname ESMTP Petrel'),

    smtp_receive_timeout: time.default('5m'),
    smtp_data_timeout: time.default('5m'),
    acl_timeout: time.default('1m'),
    spool_commit_timeout: time.default('1m'),
    tls_handshake_timeout: time.default('30s'),
    shutdown_timeout: time.default('30s'),

    pipelining_advertise_hosts: list.default(['*']),
    dsn_advertise_hosts: list.default(['*']),
    smtputf8_advertise_hosts: list.default(['*']),
    tls_advertise_hosts: list.default(['*']),
    tls_certificate: z.string().optional(),
    tls_privatekey: z.string().optional(),

    // ---- delivery (routers, transports, queue) ----
    dns_servers: z.array(z.string()).optional(),
    dns_timeout: time.default('3s'),
    dns_retries: count.default(2),
    /** All non-local mail to these hosts ("host[:port]"), tried in order (Exim's manualroute with one route). */
    smarthost: z.union([z.string(), z.array(z.string())]).optional(),
    /** manualroute: domains (list) to hosts ("host[:port]" list), first match wins. */
    route_list: z.array(z.object({ domains: list, hosts: z.union([z.string(), z.array(z.string())]) }).strict()).default([]),
    /** The redirect router's alias file ("alias: target, target"); unset: no aliases. */
    aliases_file: z.string().optional(),
    /**
     * Run remote SMTP deliveries (the delivery actors and their sockets) in a worker thread, so that the main
     * event loop keeps the sessions and the queue. DKIM signing and ARC sealing run there too, with a worker pool
     * of the thread's own. The inspector lists and replays those deliveries; while somebody watches deliveries
     * live, new ones run on the main thread (see docs/decisions/0009). On by default; false keeps every delivery
     * on the main thread (one thread less, and slower relaying).
     */
    delivery_thread: z.boolean().default(true),
    /**
     * Processes serving SMTP sessions: 1 is the daemon alone; N > 1 adds N - 1 session processes that accept on the
     * same listening sockets and hand their messages to the daemon's spool writer. Connection limits stay global.
     * Their sessions are not shown in the inspector. Slower on two cores (see docs/decisions/0010).
     */
    session_processes: z.number().int().min(1).max(64).default(1),
    /** Local delivery: one Maildir per local part under this directory. */
    maildir_directory: z.string().min(1).default('./var/mail'),
    /** dnslookup drops MX targets at these addresses (RFC 5321 5.1, Exim's ignore_target_hosts). */
    ignore_target_hosts: list.default(['0.0.0.0', '127.0.0.0/8']),
    smtp_transport: z
      .object({
        port: z.number().int().min(1).max(65535).default(25),
        helo_data: z.string().optional(),
        connect_timeout: time.default('5m'),
        command_timeout: time.default('5m'),
        data_timeout: time.default('5m'),
        final_timeout: time.default('10m'),
        hosts_avoid_tls: list.default([]),
        hosts_require_tls: list.default([]),
        max_rcpt: count.default(100),
        connection_max_messages: count.default(500),
        /**
         * How long a connection with nothing more to send stays open for the next message to the same
         * destination (as Postfix's smtp_connection_cache_time_limit); 0: QUIT at once. An idle connection
         * gives its slot up when another destination is waiting for one.
         */
        connection_idle_time: time.default('2s'),
        // ---- DKIM signing (Exim's smtp transport options; config/signing.ts checks them and reads the keys) ----
        /** d= of each signature; a list gives several signatures (paired with dkim_selector). Unset: no DKIM signing. */
        dkim_domain: list.optional(),
        /** s=, one per domain (a single selector serves every domain; several with one domain: dual signing). */
        dkim_selector: list.optional(),
        /** PEM private key (rsa >= 1024 bits or ed25519): a file, or the PEM itself; a list pairs with the selectors. */
        dkim_private_key: list.optional(),
        /** c=: Exim's "relaxed" (default) or "simple" for both parts, or "header/body". */
        dkim_canon: z.enum(['relaxed', 'simple', 'relaxed/relaxed', 'relaxed/simple', 'simple/relaxed', 'simple/simple']).default('relaxed'),
        /** The hash: sha256 (sha1 is refused for signing, RFC 8301). */
        dkim_hash: z.string().default('sha256'),
        /** i=: "local@domain" or "@domain", within d=. */
        dkim_identity: z.string().optional(),
        /** Names signed (Exim's "name", "=name" every instance, "+name" every instance plus one). Default: Exim's list. */
        dkim_sign_headers: list.optional(),
        /** A signing failure defers the message instead of sending it unsigned. */
        dkim_strict: z.union([z.boolean(), z.enum(['true', 'false', '1', '0'])]).default(false),
        /** Write t=, and x= this many seconds later (0: t= only). Unset: neither. */
        dkim_timestamps: z.union([z.number().int().min(0), z.string()]).optional(),
        /** ARC sealing: "<admd-id> : <selector> : <private key> [: timestamps,expire[=<time>|+<seconds>]]". */
        arc_sign: z.string().optional(),
      })
      .strict()
      // prefault: an absent or partial object is filled in from the defaults above.
      .prefault({}),
    /** Exim retry rules per domain list; the last rule's cutoff is when a message gives up. */
    retry_rules: z.array(z.object({ domains: list, rules: z.string() }).strict()).default([{ domains: '*', rules: 'F,2h,15m; G,16h,1h,1.5; F,4d,6h' }]),
    delay_warning: z.array(time).default(['24h']),
    dsn_from: z.string().default('Mail Delivery System <Mailer-Daemon@$primary_hostname>'),
    bounce_return_size_limit: size.default('100K'),
    remote_max_parallel: count.default(100),
    remote_max_parallel_per_host: count.default(20),
    /** How often the queue is looked at for due messages; 0: never (only on arrival and when asked). */
    queue_run_interval: time.default('1m'),
    /** Exim's queue_only: accepted mail waits for the next look at the queue instead of going at once. */
    queue_only: z.boolean().default(false),

    /** The state-chart inspector on the admin listener (`/`): what it records and for how long. */
    inspector: z
      .object({
        enabled: z.boolean().default(true),
        /** Finished actors kept per kind (session, delivery, ...), for replay. */
        history_per_kind: count.default(50),
        /** Failed and deferred deliveries are also kept this long (beyond history_per_kind)... */
        keep_failed_deliveries_for: time.default('24h'),
        /** ...up to this many. */
        failed_deliveries_max: count.default(1000),
        /** Timeline entries kept per actor (the oldest go first). */
        events_per_actor: z.number().int().min(10).default(500),
        /**
         * Kinds recorded even while no viewer is connected (the supervisor, listener and queue always
         * are). Sessions cost ~70% more CPU with an observer attached: they are recorded only while watched.
         */
        record_always: z.array(z.enum(['session', 'delivery', 'verifier'])).default(['delivery']),
      })
      .strict()
      .prefault({}),

    // ---- message authentication (SPF, DKIM, ARC, DMARC) ----
    /** Our authserv-id (RFC 8601): incoming Authentication-Results claiming it are removed. Default primary_hostname. */
    authserv_id: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'expected a host name').optional(),
    /** Bounds each verification step (an SPF check, DKIM and ARC at end of DATA, DMARC). */
    auth_timeout: time.default('30s'),
    /** Hashes accepted in DKIM signatures, in order (sha512 is accepted as a word; no DKIM algorithm uses it). */
    dkim_verify_hashes: list.default(['sha256', 'sha512', 'sha1']),
    dkim_verify_keytypes: list.default(['ed25519', 'rsa']),
    /** Stop verifying a message's signatures after the first that passes. */
    dkim_verify_minimal: z.boolean().default(false),
    /** Whom the DKIM ACL runs for (expanded at the end of DATA). */
    dkim_verify_signers: z.string().default('$dkim_signers'),
    /** Validate ARC chains of incoming messages (RFC 8617); `verify = arc` tests the result. */
    arc_verify: z.boolean().default(true),
    /** Evaluate DMARC (RFC 7489) for remote unauthenticated senders; also on when dmarc_tld_file is set. */
    dmarc_verify: z.boolean().default(false),
    /** A Public Suffix List file for organizational domains; unset: the list built into the tldts package. */
    dmarc_tld_file: z.string().optional(),
    /** Append each DMARC verdict here, in the form OpenDMARC's history import reads. */
    dmarc_history_file: z.string().optional(),
    /** From: of DMARC failure reports (control = dmarc_enable_forensic); also their envelope sender. */
    dmarc_forensic_sender: z.string().optional(),

    acl_smtp_connect: z.string().optional(),
    acl_smtp_helo: z.string().optional(),
    acl_smtp_mail: z.string().optional(),
    acl_smtp_rcpt: z.string().default(DEFAULT_RCPT_ACL),
    acl_smtp_predata: z.string().optional(),
    acl_smtp_data: z.string().optional(),
    /** Exim's DKIM ACL: run per signer (dkim_verify_signers) at the end of DATA, before acl_smtp_data. */
    acl_smtp_dkim: z.string().optional(),
    acls: z.record(z.string().regex(/^[A-Za-z0-9_]+$/, 'ACL names are letters, digits and underscores'), z.string()).default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.tls_certificate === undefined) !== (c.tls_privatekey === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tls_privatekey'], message: 'tls_certificate and tls_privatekey go together' });
    }
    if (c.admin_listen !== false) {
      const host = parseHostPort(c.admin_listen)?.host ?? '';
      const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
      if (!loopback && c.admin_token === undefined) {
        ctx.addIssue({ code: 'custom', path: ['admin_token'], message: `admin_listen on ${host} (not loopback) needs admin_token` });
      }
    }
    if (c.tls_on_connect_ports.length > 0 && c.tls_certificate === undefined) {
      ctx.addIssue({ code: 'custom', path: ['tls_on_connect_ports'], message: 'needs tls_certificate and tls_privatekey' });
    }
  });

/** What a config file may contain (all keys optional). */
export type ConfigInput = z.input<typeof configSchema>;
/** A config file after validation, defaults filled in, values still as written. */
export type ConfigParsed = z.output<typeof configSchema>;
export type ListSpec = z.output<typeof list>;
export type AclStageName = (typeof ACL_STAGES)[number];
