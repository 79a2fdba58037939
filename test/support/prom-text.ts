/**
 * A small strict parser of the Prometheus text exposition format (0.0.4), for tests: every line
 * must be a `# HELP`, a `# TYPE` or a sample of a metric whose TYPE came first; names and label
 * names must be valid, label values properly quoted and escaped, values numbers. Anything else
 * throws, naming the line.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** As Prometheus parses values (Go's ParseFloat): NaN and Inf in any case (prom-client writes `Nan`). */
function parseValue(text: string, line: number): number {
  const lower = text.toLowerCase();
  if (lower === "+inf" || lower === "inf") return Infinity;
  if (lower === "-inf") return -Infinity;
  if (lower === "nan") return NaN;
  const v = Number(text);
  if (text === "" || !Number.isFinite(v)) throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  return v;
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new Error(`line ${line}: label without '=' in {${text}}`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new Error(`line ${line}: label ${name} twice`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label ${name} value not quoted`);
    let value = "";
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === "\\") {
        const next = text[++j];
        if (next === "n") value += "\n";
        else if (next === "\\" || next === '"') value += next;
        else throw new Error(`line ${line}: bad escape \\${next ?? ""} in label ${name}`);
      } else value += text[j];
    }
    if (j >= text.length) throw new Error(`line ${line}: unterminated value of label ${name}`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ",") i++;
    else if (i < text.length) throw new Error(`line ${line}: expected ',' after label ${name}`);
  }
  return labels;
}

/** Parse a whole exposition into families by name. */
export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const lines = text.split("\n");
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw.trim() === "") return;
    if (raw.startsWith("# HELP ") || raw.startsWith("# TYPE ")) {
      const rest = raw.slice(7);
      const sp = rest.indexOf(" ");
      const name = sp < 0 ? rest : rest.slice(0, sp);
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${JSON.stringify(name)}`);
      const f = families.get(name) ?? { name, type: "untyped" as Family["type"], help: "", samples: [] };
      if (raw.startsWith("# HELP ")) f.help = sp < 0 ? "" : rest.slice(sp + 1);
      else {
        const t = rest.slice(sp + 1);
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(t)) throw new Error(`line ${line}: bad type ${t}`);
        if (f.samples.length > 0) throw new Error(`line ${line}: TYPE of ${name} after its samples`);
        f.type = t as Family["type"];
      }
      families.set(name, f);
      return;
    }
    if (raw.startsWith("#")) return;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(raw);
    if (!m) throw new Error(`line ${line}: not a sample: ${raw}`);
    const [, name = "", labelText, valueText = ""] = m;
    const base = families.has(name) ? name : name.replace(/_(bucket|sum|count|total|created)$/, "");
    const f = families.get(base) ?? families.get(name);
    if (!f) throw new Error(`line ${line}: sample of ${name} without a TYPE line`);
    if (f.type !== "histogram" && f.type !== "summary" && name !== f.name) throw new Error(`line ${line}: ${name} in family ${f.name} of type ${f.type}`);
    f.samples.push({ name, labels: labelText ? parseLabels(labelText, line) : {}, value: parseValue(valueText, line) });
  });
  return families;
}

/** The value of the one sample of `name` whose labels include `labels` (0 when there is none). */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return 0;
}
