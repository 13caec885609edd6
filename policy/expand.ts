// String expansion for ACL values: a small subset of Exim's (Exim spec, "String expansions").
//
// Supported:
//   $name, ${name}        a variable; names are [A-Za-z0-9_]+. An unknown
//                         variable fails the expansion (Exim does the same; the
//                         ACL then defers and the reason is logged).
//   $h_Name: $header_Name:  the first header called Name (case-insensitive),
//                         unfolded and trimmed; empty when absent or when no
//                         headers exist yet. The colon ends the name; without
//                         it the name ends at white space or the end of text.
//                         ${h_Name} and ${header_Name:} work too.
//   \$  \\                a literal dollar sign / backslash.
//   \n  \t  \r          newline, tab, carriage return (for add_header with
//                         several lines; inside a regex they mean the same).
// Deliberately different from Exim:
//   - Any other backslash is kept as it is, so regexes such as `^\d+@` need no
//     doubling (Exim would turn `\d` into `d`).
//   - A `$` that is not followed by a name or `{` is a literal dollar, so a
//     regex can end with `$` without escaping it.
//   ${name{arg}}          an item with one argument, when the caller offers it
//                         (the ACL offers `authresults`); the argument is
//                         expanded first, and white space may precede its brace.
//   ${lookup{key}type{arg}}  a query-style lookup, when the caller offers the
//                         type (the ACL offers `spf`: key an address, arg an IP);
//                         key and arg are expanded first.
// Not supported (an expansion error): other `${` items, i.e. ${if ...},
// the {yes}{no} strings of lookup, operators, `\N...\N`, $rh_/$bh_.

export type ExpandResult = { kind: 'ok'; value: string } | { kind: 'error'; reason: string };

export type VarLookup = (name: string) => string | undefined;
export type HeaderLookup = (name: string) => string | undefined;
/**
 * An expansion item with one argument (already expanded); undefined: no such item. For ${lookup{key}type{arg}}
 * the name is "lookup:type", `arg` the key and `extra` the lookup's argument.
 */
export type ItemLookup = (name: string, arg: string, extra?: string) => ExpandResult | undefined;

const NAME_CHAR = /[A-Za-z0-9_]/;
// Header field names are printable ASCII except the colon (RFC 5322 section 2.2).
const HEADER_CHAR = /[!-9;-~]/;
const HEADER_PREFIX = /^(?:h|header)_/;
const CONTROL_ESCAPES = new Map([['n', '\n'], ['t', '\t'], ['r', '\r']]);

function headerValue(name: string, headers: HeaderLookup | undefined): string {
  const raw = headers?.(name);
  if (raw === undefined) return '';
  // Unfold (RFC 5322 section 2.2.3) so a header can be put in a reply or log line.
  return raw.replace(/\r?\n(?=[ \t])/g, '').trim();
}

/** Expands `text`; see the top of this file for the supported subset. */
export function expand(text: string, vars: VarLookup, headers?: HeaderLookup, items?: ItemLookup): ExpandResult {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '\\') {
      const next = text[i + 1];
      if (next === '$' || next === '\\') {
        out += next;
        i += 2;
      } else if (next !== undefined && CONTROL_ESCAPES.has(next)) {
        out += CONTROL_ESCAPES.get(next) as string;
        i += 2;
      } else {
        out += c;
        i++;
      }
      continue;
    }
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '{') {
      const item = /^([A-Za-z0-9_]+)\s*\{/.exec(text.slice(i + 2));
      if (item) {
        const r = callItem(text, i, item[1] as string, i + 2 + item[0].length, vars, headers, items);
        if (r.kind === 'error') return r;
        out += r.value;
        i = r.next;
        continue;
      }
      const close = text.indexOf('}', i + 2);
      if (close < 0) return { kind: 'error', reason: `missing "}" after "\${" at offset ${i}` };
      const inner = text.slice(i + 2, close);
      const r = braced(inner, vars, headers);
      if (r.kind === 'error') return r;
      out += r.value;
      i = close + 1;
      continue;
    }
    if (next === undefined || !NAME_CHAR.test(next)) {
      out += '$';
      i++;
      continue;
    }
    let j = i + 1;
    while (j < text.length && NAME_CHAR.test(text[j] as string)) j++;
    const name = text.slice(i + 1, j);
    if (HEADER_PREFIX.test(name)) {
      // The header name may contain characters (such as "-") that end a variable name.
      while (j < text.length && HEADER_CHAR.test(text[j] as string)) j++;
      const headerName = text.slice(i + 1, j).replace(HEADER_PREFIX, '');
      if (text[j] === ':') j++;
      out += headerValue(headerName, headers);
      i = j;
      continue;
    }
    const value = vars(name);
    if (value === undefined) return { kind: 'error', reason: `unknown variable "$${name}"` };
    out += value;
    i = j;
  }
  return { kind: 'ok', value: out };
}

function braced(inner: string, vars: VarLookup, headers: HeaderLookup | undefined): ExpandResult {
  if (HEADER_PREFIX.test(inner)) {
    const headerName = inner.replace(HEADER_PREFIX, '').replace(/:$/, '');
    if (headerName !== '' && [...headerName].every((ch) => HEADER_CHAR.test(ch))) {
      return { kind: 'ok', value: headerValue(headerName, headers) };
    }
  }
  if (!/^[A-Za-z0-9_]+$/.test(inner)) {
    return { kind: 'error', reason: `unsupported expansion item "\${${inner}}" (only variables and headers are supported)` };
  }
  const value = vars(inner);
  if (value === undefined) return { kind: 'error', reason: `unknown variable "$${inner}"` };
  return { kind: 'ok', value };
}

/** Offset just past the "}" that closes the brace opened before `from`, or -1. Escaped braces do not count. */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let j = from; j < text.length; j++) {
    const c = text[j];
    if (c === '\\') j++;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return j + 1;
  }
  return -1;
}

/** ${name{arg}} starting at `start`; `argStart` is just inside the argument's brace. */
function callItem(
  text: string, start: number, name: string, argStart: number, vars: VarLookup, headers: HeaderLookup | undefined,
  items: ItemLookup | undefined,
): { kind: 'ok'; value: string; next: number } | { kind: 'error'; reason: string } {
  const argEnd = closingBrace(text, argStart);
  if (argEnd < 0) return { kind: 'error', reason: `missing "}" after "\${${name}{" at offset ${start}` };
  if (name === 'lookup') {
    const key = expand(text.slice(argStart, argEnd - 1), vars, headers, items);
    return key.kind === 'error' ? key : callLookup(text, start, argEnd, key.value, vars, headers, items);
  }
  const after = /^\s*\}/.exec(text.slice(argEnd));
  if (!after) return { kind: 'error', reason: `"\${${name}{...}" at offset ${start} is not closed with "}"` };
  const arg = expand(text.slice(argStart, argEnd - 1), vars, headers, items);
  if (arg.kind === 'error') return arg;
  const r = items?.(name, arg.value);
  if (r === undefined) return { kind: 'error', reason: `unsupported expansion item "\${${name}{...}}"` };
  if (r.kind === 'error') return r;
  return { kind: 'ok', value: r.value, next: argEnd + after[0].length };
}

const LOOKUP_TYPE = /^\s*([A-Za-z0-9_-]+)\s*\{/;

/** The rest of ${lookup{key}type{arg}} after the key's closing brace at `keyEnd`. */
function callLookup(
  text: string, start: number, keyEnd: number, key: string, vars: VarLookup, headers: HeaderLookup | undefined,
  items: ItemLookup | undefined,
): { kind: 'ok'; value: string; next: number } | { kind: 'error'; reason: string } {
  const spec = lookupSpec(text, keyEnd);
  if (spec === null) return { kind: 'error', reason: `"\${lookup{...}" at offset ${start}: expected type{argument}}` };
  const arg = expand(spec.arg, vars, headers, items);
  if (arg.kind === 'error') return arg;
  const r = items?.(`lookup:${spec.type.toLowerCase()}`, key, arg.value);
  if (r === undefined) return { kind: 'error', reason: `unsupported lookup type "${spec.type}"` };
  if (r.kind === 'error') return r;
  return { kind: 'ok', value: r.value, next: spec.next };
}

function lookupSpec(text: string, keyEnd: number): { type: string; arg: string; next: number } | null {
  const type = LOOKUP_TYPE.exec(text.slice(keyEnd));
  if (!type) return null;
  const argStart = keyEnd + type[0].length;
  const argEnd = closingBrace(text, argStart);
  if (argEnd < 0) return null;
  const close = /^\s*\}/.exec(text.slice(argEnd));
  if (!close) return null;
  return { type: type[1] as string, arg: text.slice(argStart, argEnd - 1), next: argEnd + close[0].length };
}

/**
 * The ${lookup{key}type{arg}} items in a text, unexpanded, innermost last: a caller whose lookups need I/O
 * resolves them first (expanding key and arg itself) so that the expansion can stay synchronous.
 */
export function lookupCalls(text: string): { type: string; key: string; arg: string }[] {
  const out: { type: string; key: string; arg: string }[] = [];
  const re = /\$\{lookup\s*\{/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const keyStart = m.index + m[0].length;
    const keyEnd = closingBrace(text, keyStart);
    if (keyEnd < 0) continue;
    const spec = lookupSpec(text, keyEnd);
    if (spec) out.push({ type: spec.type.toLowerCase(), key: text.slice(keyStart, keyEnd - 1), arg: spec.arg });
  }
  return out;
}
