// sqlfocus board: serves the training dashboard over a logdir of run folders (src/track).
import { existsSync, statSync } from "node:fs";
import type { CommandModule } from "yargs";
import { runsDirOf, startBoard } from "../../track/index.js";

interface BoardArgs {
  logdir: string;
  port: number;
  host: string;
}

export const boardCommand: CommandModule<object, BoardArgs> = {
  command: "board",
  describe: "Serve the training dashboard: runs, loss/eval loss/lr/grad norm/tokens/s/memory charts, live updates",
  builder: (y) =>
    y
      .option("logdir", {
        type: "string",
        default: "output",
        describe: "Training output folder (its runs/ is used) or a folder of run folders",
      })
      .option("port", { type: "number", default: 5092, describe: "Port to listen on" })
      .check((a) => {
        if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535)
          throw new Error(`--port must be a whole number 0-65535, got ${a.port}`);
        return true;
      })
      .option("host", { type: "string", default: "127.0.0.1", describe: "Address to listen on" }),
  handler: async (args) => {
    if (existsSync(args.logdir) && !statSync(args.logdir).isDirectory())
      throw new Error(`--logdir ${args.logdir}: is a file, not a folder of runs`);
    const { app, url } = await startBoard({ logdir: args.logdir, port: args.port, host: args.host });
    process.stdout.write(`sqlfocus board: ${url} (runs in ${runsDirOf(args.logdir)}; Ctrl-C to stop)\n`);
    const stop = () => void app.close().then(() => process.exit(0));
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  },
};
