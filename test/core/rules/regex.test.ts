import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { compileRegex, LinearRegex, MAX_STATES, regexProblem } from "../../../core/rules/regex/nfa.ts";

function compiled(source: string): LinearRegex {
  const result = compileRegex(source);
  if ("problem" in result) assert.fail(`${source}: ${result.problem}`);
  return result;
}

describe("linear-time regex", () => {
  // Each pattern against each input: the engine must agree with JavaScript's RegExp on the syntax it accepts.
  const patterns = [
    "abc", "^abc", "abc$", "^abc$", "a|b|cd", "^(?:api|rest)/v[0-9]+/", "colou?r", "a{2}", "^a{2,3}$", "^a{2,}$",
    "[a-c]x", "[^a-c]x", "\\d+\\.\\d+", "\\w+@\\w+", "\\s", "\\S+$", "[\\d.]+", "^.*$", ".", "a.c", "(a|ab)(c|bcd)(d*)",
    "(a*)*b", "(?<year>\\d{4})-\\d{2}", "\\x41\\u0042", "[\\]]", "a+?b", "^$", "", "x*", "[^]", "^/api(/|$)", "\\/\\*",
    "[-a]", "[a-]", "\\bx".replace("\\b", "\\t"), "a{0,0}b", "(ab){2,3}c", "\\.jsp;jsessionid=[A-F0-9]+",
  ];
  const inputs = [
    "", "abc", "xabcx", "ab", "a", "aa", "aaa", "aaaa", "b", "cd", "rest/v12/x", "api/v/", "/api/v1/", "color", "colour",
    "bx", "dx", "3.14", "me@example", " \t", "x y", "1.2.3", "line\nbreak", "abcd", "abd", "ababc", "abababc", "2024-01",
    "AB", "]", "aab", "/api", "/api/", "/apix", "/*", "-", "\tx", "/x.jsp;jsessionid=ABC123", "ééé", "\u2028",
  ];
  for (const pattern of patterns) {
    test(`agrees with RegExp: /${pattern}/`, () => {
      const engine = compiled(pattern);
      const reference = new RegExp(pattern);
      for (const input of inputs) assert.equal(engine.test(input), reference.test(input), `/${pattern}/ on ${JSON.stringify(input)}`);
    });
  }

  test("refuses what needs backtracking, with the reason", () => {
    assert.match(regexProblem("(a)\\1")!, /backreferences/);
    assert.match(regexProblem("(?<n>a)\\k<n>")!, /backreferences/);
    assert.match(regexProblem("a(?=b)")!, /lookahead/);
    assert.match(regexProblem("a(?!b)")!, /lookahead/);
    assert.match(regexProblem("(?<=a)b")!, /lookbehind/);
    assert.match(regexProblem("(?<!a)b")!, /lookbehind/);
    assert.match(regexProblem("\\bword\\b")!, /word boundaries/);
    assert.match(regexProblem("\\p{L}")!, /property/);
  });

  test("refuses malformed patterns", () => {
    for (const source of ["(a", "a)", "[a", "*a", "a{3,2}", "\\", "a{1001}", "[z-a]", "\\q", "^*", "(?x)"]) {
      assert.notEqual(regexProblem(source), undefined, source);
    }
    assert.equal(regexProblem("^/ok$"), undefined, "control: a valid pattern has no problem");
  });

  test("caps the program size", () => {
    assert.match(regexProblem("(?:a{1000}){1000}")!, new RegExp(`more than ${MAX_STATES} states`));
  });

  test("knows patterns that can never match", () => {
    assert.equal(compiled("[]").canMatch(), false);
    assert.equal(compiled("a[^\\s\\S]").canMatch(), false);
    assert.equal(compiled("a|[]").canMatch(), true);
    assert.equal(compiled("^$").canMatch(), true);
  });

  test("a pattern whose DFA would be huge: the bounded cache starts afresh and the answers stay right", () => {
    // (a|b)*a(a|b){12}: the DFA needs 2^13 states, far past the cache; inputs walk through many of them.
    const pattern = "(a|b)*a(a|b){12}$";
    const engine = compiled(pattern);
    const reference = new RegExp(pattern);
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let round = 0; round < 200; round++) {
      const input = Array.from({ length: 40 }, () => (random() < 0.5 ? "a" : "b")).join("");
      assert.equal(engine.test(input), reference.test(input), input);
    }
  });

  test("catastrophic-backtracking patterns stay linear on hostile input", () => {
    // (a+)+$ on "aaa…ab" takes exponential time in a backtracking engine; 100 KB of it here.
    const hostile = "a".repeat(100_000) + "!";
    for (const pattern of ["(a+)+$", "(a|aa)+$", "^(\\w+\\s?)*$", "(.*a){20}$"]) {
      const started = performance.now();
      assert.equal(compiled(pattern).test(hostile), false, pattern);
      assert.equal(compiled(pattern).test("a".repeat(30)), true, `control: ${pattern} matches a harmless input`);
      // Generous: a linear engine takes milliseconds; a backtracking one would not finish.
      assert.ok(performance.now() - started < 2000, `${pattern} took ${performance.now() - started} ms`);
    }
  });
});
