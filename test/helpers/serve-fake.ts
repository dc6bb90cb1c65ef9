// A server process for the signal tests: createServer over the fake model (each reply takes SQLFOCUS_FAKE_DELAY_MS),
// closed by closeOnSignals as `sqlfocus serve` is. Prints "listening <url>" when ready.
import { closeOnSignals, createServer } from "../../src/server/index.js";
import { FakeChatModel } from "../server-fake-model.js";

const delay = Number(process.env.SQLFOCUS_FAKE_DELAY_MS ?? 1000);
const model = new FakeChatModel(() => "SELECT 1\n```");
const complete = model.complete.bind(model);
model.complete = async (req) => {
  await new Promise((r) => setTimeout(r, delay));
  return complete(req);
};
const app = await createServer({ model, logger: false });
await app.listen({ host: "127.0.0.1", port: 0 });
closeOnSignals(app, (line) => process.stderr.write(`${line}\n`));
process.stdout.write(`listening http://127.0.0.1:${(app.server.address() as import("node:net").AddressInfo).port}\n`);
