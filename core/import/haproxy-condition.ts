/**
 * An HAProxy `if`/`unless` condition read into its structure, for the importers that turn it into
 * routes or rule matchers: alternatives (split on `||` / `or`), each a conjunction of terms, a
 * term an ACL, anonymous (`{ … }`) or named, maybe negated (`!`). A name the proxy does not declare
 * is left to the reader's caller, which knows which predefined ACLs it can express.
 *
 * @example
 * ```ts
 * conditionOf(["if", "api", "||", "!", "{", "src", "10.0.0.0/8", "}"], acls);
 * // { unless: false, alternatives: [[{ negated: false, lines: [["path_beg", "/api"]], acls: [apiUse] }],
 * //                                 [{ negated: true, lines: [["src", "10.0.0.0/8"]], acls: [] }]] }
 * ```
 * @module
 */
import type { Use } from "./haproxy-lex.ts";

/**
 * One ACL of a condition: its lines' criterion-and-values words (a named ACL written on several
 * lines matches when any line does) and the `acl` lines it came from; or a name the proxy does not
 * declare (a predefined ACL or a mistake).
 */
export type ConditionTerm = { negated: boolean } & ({ lines: string[][]; acls: Use[] } | { undeclared: string });

/** A condition: `unless` negates the whole; it holds when all terms of any alternative hold. */
export interface Condition {
  unless: boolean;
  alternatives: ConditionTerm[][];
}

/** The condition of `words` (from `if` or `unless` on); a declared ACL overrides a predefined one of its name, as in HAProxy. */
export function conditionOf(words: string[], acls: Map<string, Use[]>): Condition | { why: string } {
  if (words[0] !== "if" && words[0] !== "unless") return { why: `expected if or unless, found "${words[0]}"` };
  const alternatives: ConditionTerm[][] = [[]];
  for (let index = 1; index < words.length; index++) {
    let word = words[index];
    if (word === "||" || word === "or") {
      alternatives.push([]);
      continue;
    }
    let negated = false;
    if (word.startsWith("!")) {
      negated = true;
      word = word.slice(1) || (words[++index] ?? "");
    }
    const terms = alternatives[alternatives.length - 1];
    if (word === "{") {
      const close = words.indexOf("}", index + 1);
      if (close < 0) return { why: "an anonymous ACL without its closing '}'" };
      terms.push({ negated, lines: [words.slice(index + 1, close)], acls: [] });
      index = close;
      continue;
    }
    const named = acls.get(word);
    if (named === undefined) terms.push({ negated, undeclared: word });
    else terms.push({ negated, lines: named.map((use) => use.directive.words.slice(2)), acls: named });
  }
  return { unless: words[0] === "unless", alternatives };
}

/** One ACL line's fetch (`,lower` taken off as `-i`), match method (`-m`), `-i` and values. */
export interface AclLine {
  criterion: string;
  method: string | undefined;
  caseless: boolean;
  values: string[];
}

/** The ACL line of `words` (criterion, flags, values); values read from a file (`-f`) give that file's name instead. */
export function aclLineOf(words: string[]): AclLine | { valuesFile: string | undefined } {
  const line: AclLine = { criterion: words[0] ?? "", method: undefined, caseless: false, values: [] };
  for (let index = 1; index < words.length; index++) {
    const word = words[index];
    if (word === "-i") line.caseless = true;
    else if (word === "-m") line.method = words[++index];
    else if (word === "-f") return { valuesFile: words[index + 1] };
    else if (word === "--") line.values.push(...words.slice(index + 1)), (index = words.length);
    else if (word === "-n" || word === "-u") continue;
    else line.values.push(word);
  }
  if (line.criterion.endsWith(",lower")) {
    line.criterion = line.criterion.slice(0, -",lower".length);
    line.caseless = true;
  }
  return line;
}
