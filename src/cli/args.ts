/** A command-line usage error: exit 2 with a message naming the flag. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What a command accepts: flags that take a value (optionally repeatable) and boolean switches. */
export interface FlagSpec {
  values: readonly string[];
  repeatable?: readonly string[];
  switches?: readonly string[];
}

/** Parsed flags: last value wins, repeatable flags collect every value. */
export interface ParsedFlags {
  values: Map<string, string>;
  lists: Map<string, string[]>;
  switches: Set<string>;
}

/** Parses `--name value`, `--name=value` and `--switch`; anything else is a UsageError. */
export function parseFlags(args: readonly string[], spec: FlagSpec): ParsedFlags {
  const parsed: ParsedFlags = { values: new Map(), lists: new Map(), switches: new Set() };
  const repeatable = new Set(spec.repeatable ?? []);
  const takesValue = new Set([...spec.values, ...repeatable]);
  const switches = new Set(spec.switches ?? []);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (match === null) throw new UsageError(`Cannot parse argument '${arg}' as arguments must be --flag or --flag value`);
    const [, name, inline] = match;
    if (switches.has(name)) {
      if (inline !== undefined) throw new UsageError(`Cannot use --${name} with a value as it is a switch`);
      parsed.switches.add(name);
      continue;
    }
    if (!takesValue.has(name)) throw new UsageError(`Cannot use --${name} as it is not a flag of this command`);
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`Cannot use --${name} as it must be followed by a value`);
    if (repeatable.has(name)) parsed.lists.set(name, [...(parsed.lists.get(name) ?? []), value]);
    else parsed.values.set(name, value);
  }
  return parsed;
}
