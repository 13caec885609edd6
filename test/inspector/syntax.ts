// Test helper: strict checks of the chart exports without a renderer: XML well-formedness (SVG)
// and the statement structure of mermaid's stateDiagram-v2 grammar (its lexer's rules, not a guess).

/** Throws with the position of the first problem; returns the root element's name and attributes. */
export function checkXml(text: string): { root: string; attrs: Record<string, string>; elements: number } {
  let i = 0;
  const fail = (why: string): never => {
    const line = text.slice(0, i).split('\n').length;
    throw new Error(`XML: ${why} at line ${line}: ${JSON.stringify(text.slice(i, i + 60))}`);
  };
  const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
  const name = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(text);
    if (!m) return fail('expected a name');
    i += m[0].length;
    return m[0];
  };
  const space = (): void => {
    while (i < text.length && /\s/.test(text[i] as string)) i++;
  };
  const checkText = (s: string): void => {
    for (const m of s.matchAll(/&([^;\s]*);?/g)) {
      if (!/^&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);$/.test(m[0])) fail(`bad entity ${m[0]}`);
    }
    if (s.includes('<')) fail('"<" in text');
  };
  const stack: string[] = [];
  let root = '';
  let rootAttrs: Record<string, string> = {};
  let elements = 0;
  if (text.startsWith('<?xml')) {
    const end = text.indexOf('?>');
    if (end < 0) fail('unterminated XML declaration');
    i = end + 2;
  }
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = text.slice(i, lt < 0 ? text.length : lt);
    if (stack.length === 0 && chunk.trim() !== '') fail('text outside the root element');
    checkText(chunk);
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i);
      if (end < 0) fail('unterminated comment');
      i = end + 3;
      continue;
    }
    if (text.startsWith('</', i)) {
      i += 2;
      const n = name();
      space();
      if (text[i] !== '>') fail('expected ">"');
      i++;
      if (stack.pop() !== n) fail(`</${n}> does not close the open element`);
      continue;
    }
    i++;
    const n = name();
    if (stack.length === 0 && root) fail('a second root element');
    elements++;
    const attrs: Record<string, string> = {};
    for (;;) {
      const before = i;
      space();
      if (text.startsWith('/>', i)) {
        i += 2;
        break;
      }
      if (text[i] === '>') {
        i++;
        stack.push(n);
        break;
      }
      if (i === before) fail('expected a space before an attribute');
      const a = name();
      if (a in attrs) fail(`attribute ${a} twice`);
      space();
      if (text[i] !== '=') fail('expected "="');
      i++;
      space();
      const q = text[i];
      if (q !== '"' && q !== "'") fail('expected a quoted value');
      const end = text.indexOf(q as string, i + 1);
      if (end < 0) fail('unterminated attribute value');
      const v = text.slice(i + 1, end);
      checkText(v);
      attrs[a] = v;
      i = end + 1;
    }
    if (!root) {
      root = n;
      rootAttrs = attrs;
    }
  }
  if (stack.length) throw new Error(`XML: unclosed <${stack.join('> <')}>`);
  if (!root) throw new Error('XML: no root element');
  return { root, attrs: rootAttrs, elements };
}

export interface MermaidStructure {
  readonly states: Set<string>;
  readonly transitions: { from: string; to: string; label: string }[];
}

const ID = '[A-Za-z0-9_]+';

/** Every line must be one of the statements mermaid's state grammar has; braces must balance. */
export function checkMermaid(text: string): MermaidStructure {
  const lines = text.split('\n');
  const first = lines.findIndex((l) => l.trim() !== '');
  if (lines[first]?.trim() !== 'stateDiagram-v2') throw new Error(`mermaid: the first line is ${JSON.stringify(lines[first])}, not stateDiagram-v2`);
  const states = new Set<string>();
  const transitions: { from: string; to: string; label: string }[] = [];
  let depth = 0;
  lines.slice(first + 1).forEach((raw, n) => {
    const l = raw.trim();
    const where = `mermaid line ${first + n + 2}: ${JSON.stringify(raw)}`;
    let m: RegExpExecArray | null;
    if (l === '' || l.startsWith('%%')) return;
    if (/^direction (LR|RL|TB|BT)$/.test(l)) return;
    if ((m = new RegExp(`^state "([^"\\n]*)" as (${ID})$`).exec(l))) states.add(m[2] as string);
    else if ((m = new RegExp(`^state (${ID}) <<choice>>$`).exec(l))) states.add(m[1] as string);
    else if ((m = new RegExp(`^state (${ID}) \\{$`).exec(l))) {
      states.add(m[1] as string);
      depth++;
    } else if (l === '}') {
      if (--depth < 0) throw new Error(`${where}: "}" without "{"`);
    } else if (l === '--') {
      if (depth === 0) throw new Error(`${where}: "--" outside a composite state`);
    } else if ((m = new RegExp(`^(${ID}|\\[\\*\\]) --> (${ID}|\\[\\*\\])(?: : ([^:\\n;#]+))?$`).exec(l))) {
      transitions.push({ from: m[1] as string, to: m[2] as string, label: (m[3] ?? '').trim() });
    } else throw new Error(`${where}: not a stateDiagram-v2 statement`);
    if (l.includes('#') || /\bdefault\b/i.test(l.replace(/^state "[^"]*"/, ''))) throw new Error(`${where}: "#" or "default" would be read as a comment or keyword`);
  });
  if (depth !== 0) throw new Error(`mermaid: ${depth} composite state(s) not closed`);
  for (const t of transitions) {
    for (const s of [t.from, t.to]) if (s !== '[*]' && !states.has(s)) throw new Error(`mermaid: transition ${t.from} --> ${t.to} names undeclared state ${s}`);
  }
  return { states, transitions };
}
