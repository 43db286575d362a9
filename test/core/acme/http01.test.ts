import { test } from "node:test";
import assert from "node:assert/strict";
import { Http01Tokens } from "../../../core/acme/http01.ts";

const text = (body: unknown) => new TextDecoder().decode(body as Uint8Array);

test("a published token is answered with its key authorization until withdrawn", () => {
  const tokens = new Http01Tokens();
  const request = { method: "GET", target: "/.well-known/acme-challenge/tok_EN-1" };
  assert.equal(tokens.answer(request)?.status, 404, "control: not yet published");
  tokens.publish("tok_EN-1", "tok_EN-1.thumbprint");
  const answer = tokens.answer(request)!;
  assert.equal(answer.status, 200);
  assert.equal(text(answer.body), "tok_EN-1.thumbprint");
  assert.equal(answer.fields.get("content-type"), "application/octet-stream");
  assert.equal(tokens.answer({ method: "HEAD", target: request.target })?.status, 200);
  tokens.withdraw("tok_EN-1");
  assert.equal(tokens.answer(request)?.status, 404);
  assert.equal(tokens.size, 0);
});

test("other requests go on as usual; wrong methods and tokens are refused", () => {
  const tokens = new Http01Tokens();
  tokens.publish("abc", "abc.x");
  assert.equal(tokens.answer({ method: "GET", target: "/" }), undefined);
  assert.equal(tokens.answer({ method: "GET", target: "/.well-known/other" }), undefined);
  assert.equal(tokens.answer({ method: "POST", target: "/.well-known/acme-challenge/abc" })?.status, 405);
  assert.equal(tokens.answer({ method: "GET", target: "/.well-known/acme-challenge/abc/x" })?.status, 404);
  assert.throws(() => tokens.publish("../etc", "x"), /not base64url/);
});
