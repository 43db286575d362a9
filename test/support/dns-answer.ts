/**
 * Builds DNS answers for the resolver's tests, as a nameserver would send them: owner names that
 * repeat the question's are compressed to a pointer to it (0xc00c), as servers do.
 */
import type { DnsRecord } from "../../core/discovery/dns-message.ts";
import { TYPE_CODES } from "../../core/discovery/dns-message.ts";
import type { RecordType } from "../../core/discovery/schema.ts";

export interface AnswerSpec {
  id: number;
  rcode?: number;
  truncated?: boolean;
  question: { name: string; type: RecordType };
  answers?: DnsRecord[];
  additional?: DnsRecord[];
}

export function encodeAnswer(spec: AnswerSpec): Uint8Array {
  const bytes: number[] = [];
  const u16 = (value: number) => bytes.push(value >> 8, value & 0xff);
  const u32 = (value: number) => bytes.push((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
  const question = spec.question.name.toLowerCase();
  const name = (text: string) => {
    if (text.toLowerCase() === question) return u16(0xc00c);
    for (const label of text.split(".").filter((part) => part !== "")) bytes.push(label.length, ...new TextEncoder().encode(label));
    bytes.push(0);
  };
  const answers = spec.answers ?? [];
  const additional = spec.additional ?? [];
  u16(spec.id);
  u16(0x8180 | (spec.truncated ? 0x0200 : 0) | (spec.rcode ?? 0));
  u16(1);
  u16(answers.length);
  u16(0);
  u16(additional.length);
  for (const label of question.split(".")) bytes.push(label.length, ...new TextEncoder().encode(label));
  bytes.push(0);
  u16(TYPE_CODES[spec.question.type]);
  u16(1);
  for (const record of [...answers, ...additional]) {
    name(record.name);
    u16(TYPE_CODES[record.type]);
    u16(1);
    u32(record.ttl);
    const lengthAt = bytes.length;
    u16(0);
    if ("address" in record) {
      if (record.type === "a") bytes.push(...record.address.split(".").map(Number));
      else for (const group of _expand(record.address)) u16(group);
    } else if (record.type === "cname") name(record.target);
    else {
      u16(record.priority);
      u16(record.weight);
      u16(record.port);
      name(record.target);
    }
    const length = bytes.length - lengthAt - 2;
    bytes[lengthAt] = length >> 8;
    bytes[lengthAt + 1] = length & 0xff;
  }
  return new Uint8Array(bytes);
}

function _expand(address: string): number[] {
  const [head, tail] = address.includes("::") ? address.split("::") : [address, undefined];
  const front = head ? head.split(":").map((part) => parseInt(part, 16)) : [];
  const back = tail ? tail.split(":").map((part) => parseInt(part, 16)) : [];
  return [...front, ...Array(8 - front.length - back.length).fill(0), ...back];
}
