// The embedded default policy: the RCPT ACL every config gets unless it sets acl_smtp_rcpt itself.

/**
 * Modelled on the RCPT ACL of Exim's default configuration: odd local parts refused, postmaster
 * always reachable, relaying only for relay_from_hosts or authenticated clients, and every other
 * recipient must be in a local or relay domain and verify. It is not an open relay.
 */
export const DEFAULT_RCPT_ACL = `
  # Local parts with characters that have meaning to routers or shells are refused.
  deny    domains     = +local_domains
          local_parts = ^[.] : ^.*[@%!/|]
          message     = Restricted characters in address
  deny    domains     = !+local_domains
          local_parts = ^[./|] : ^.*[@%!] : ^.*/\\.\\./
          message     = Restricted characters in address

  # RFC 5321 section 4.5.1: postmaster must always be accepted.
  accept  local_parts = postmaster
          domains     = +local_domains

  accept  hosts         = +relay_from_hosts
  accept  authenticated = *

  require message = Relay not permitted
          domains = +local_domains : +relay_to_domains
  require verify  = recipient
  accept
`;
