// A small XML reader for the aggregate report tests: elements, text, the five predefined entities and numeric
// character references; no attributes, namespaces or DTDs (the report has none). Written independently of the
// code under test; it throws on anything it does not understand.

export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (all, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    const v = ENTITIES[e];
    if (v === undefined) throw new Error(`unknown entity ${all}`);
    return v;
  });
}

export function parseXml(text: string): XmlElement {
  let s = text;
  const decl = /^<\?xml[^?]*\?>\s*/.exec(s);
  if (decl) s = s.slice(decl[0].length);
  const root: XmlElement = { name: '#root', children: [], text: '' };
  const stack: XmlElement[] = [root];
  const re = /<(\/?)([A-Za-z_][\w.-]*)\s*>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < s.length && (m = re.exec(s)) !== null) {
    pos = re.lastIndex;
    const top = stack[stack.length - 1] as XmlElement;
    if (m[3] !== undefined) {
      if (/[<>]/.test(m[3])) throw new Error('stray markup');
      top.text += decode(m[3]);
    } else if (m[1] === '/') {
      if (top.name !== m[2]) throw new Error(`</${m[2]}> closes <${top.name}>`);
      stack.pop();
    } else {
      const el: XmlElement = { name: m[2] as string, children: [], text: '' };
      top.children.push(el);
      stack.push(el);
    }
  }
  if (pos !== s.length) throw new Error(`unparsed input at ${pos}: ${s.slice(pos, pos + 40)}`);
  if (stack.length !== 1) throw new Error('unclosed elements');
  const elements = root.children;
  if (elements.length !== 1 || root.text.trim() !== '') throw new Error('one root element expected');
  return elements[0] as XmlElement;
}

/** Child elements of that name. */
export const all = (el: XmlElement, name: string): XmlElement[] => el.children.filter((c) => c.name === name);

/** The one child of that name; throws if there is not exactly one. */
export function one(el: XmlElement, name: string): XmlElement {
  const l = all(el, name);
  if (l.length !== 1) throw new Error(`<${el.name}> has ${l.length} <${name}>`);
  return l[0] as XmlElement;
}

/** Text of a path of single children, e.g. text(feedback, 'report_metadata', 'org_name'). */
export function text(el: XmlElement, ...path: string[]): string {
  let cur = el;
  for (const p of path) cur = one(cur, p);
  if (cur.children.length > 0) throw new Error(`<${cur.name}> is not a leaf`);
  return cur.text;
}

/** Names of the children, in order (to check the schema's sequence). */
export const names = (el: XmlElement): string[] => el.children.map((c) => c.name);
