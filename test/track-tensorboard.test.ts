// TensorBoard event files: CRC32C known answer, records read back with both CRCs checked, the Event/Summary
// protobuf decoded independently by protobufjs from a schema, and tensorboard's own reader when Python has it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import protobuf from "protobufjs";
import { crc32c, readEventFile, TensorBoardTracker } from "../src/track/index.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-track-tb-"));
after(() => rmSync(root, { recursive: true, force: true }));

const SCHEMA = `
syntax = "proto3";
package tensorflow;
message Event { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3; Summary summary = 5; } }
message Summary { message Value { string tag = 1; oneof value { float simple_value = 2; } } repeated Value value = 1; }
`;

function writeSample(dir: string) {
  let t = 1_700_000_000.25;
  const tb = new TensorBoardTracker({ logdir: dir, now: () => (t += 1) });
  tb.log(1, { loss: 2.5, lr: 1e-4 });
  tb.log(2, { loss: 2.25, grad_norm: 0.5 });
  tb.log(300_000, { eval_loss: 1.75 });
  tb.finish();
  return tb;
}

test("CRC32C matches the Castagnoli check value", () => {
  assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
});

test("event file: version record then one scalar event per log, CRCs checked", () => {
  const tb = writeSample(join(root, "a"));
  assert.match(tb.path, /events\.out\.tfevents\.1700000001\./);
  const events = readEventFile(tb.path);
  assert.equal(events.length, 4);
  assert.equal(events[0]!.fileVersion, "brain.Event:2");
  assert.equal(events[0]!.wallTime, 1_700_000_001.25);
  assert.deepEqual(
    events.slice(1).map((e) => [e.step, e.wallTime, e.scalars]),
    [
      [1, 1_700_000_002.25, { loss: 2.5, lr: Math.fround(1e-4) }],
      [2, 1_700_000_003.25, { loss: 2.25, grad_norm: 0.5 }],
      [300_000, 1_700_000_004.25, { eval_loss: 1.75 }],
    ],
  );
  // A flipped payload byte is caught by the data CRC.
  const bad = readFileSync(tb.path);
  bad[bad.length - 6]! ^= 0xff;
  const badPath = join(root, "bad.tfevents");
  writeFileSync(badPath, bad);
  assert.throws(() => readEventFile(badPath), /bad data CRC at byte \d+/);
});

test("protobufjs decodes the records as tensorflow.Event", () => {
  const tb = writeSample(join(root, "b"));
  const Event = protobuf.parse(SCHEMA).root.lookupType("tensorflow.Event");
  const b = readFileSync(tb.path);
  const decoded: Record<string, unknown>[] = [];
  for (let pos = 0; pos < b.length;) {
    const len = Number(b.readBigUInt64LE(pos));
    decoded.push(
      Event.toObject(Event.decode(b.subarray(pos + 12, pos + 12 + len)), { longs: Number, defaults: false }),
    );
    pos += 16 + len;
  }
  assert.deepEqual(decoded[0], { wallTime: 1_700_000_001.25, fileVersion: "brain.Event:2" });
  assert.deepEqual(decoded[3], {
    wallTime: 1_700_000_004.25,
    step: 300_000,
    summary: { value: [{ tag: "eval_loss", simpleValue: 1.75 }] },
  });
  assert.deepEqual(
    (decoded[2] as { summary: { value: { tag: string }[] } }).summary.value.map((v) => v.tag),
    ["loss", "grad_norm"],
  );
});

const py = spawnSync("python3", ["-c", "import tensorboard"], { encoding: "utf8" });
test(
  "tensorboard's own reader loads the scalars",
  { skip: py.status !== 0 ? "python3 has no tensorboard" : false },
  () => {
    const dir = join(root, "c");
    writeSample(dir);
    const script = `
import sys, json
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1]); acc.Reload()
print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}))`;
    const r = spawnSync("python3", ["-c", script, dir], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      loss: [
        [1, 2.5],
        [2, 2.25],
      ],
      lr: [[1, Math.fround(1e-4)]],
      grad_norm: [[2, 0.5]],
      eval_loss: [[300000, 1.75]],
    });
  },
);
