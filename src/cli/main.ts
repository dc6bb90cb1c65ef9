#!/usr/bin/env node
// sqlfocus command line: each command is a thin call into a capability module (src/cli/commands/*).
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { commands } from "./commands.js";
import { errorLine, sqlfocusVersion } from "./shared.js";

const cli = yargs(hideBin(process.argv))
  .scriptName("sqlfocus")
  .usage("$0 <command> [options]")
  .strict()
  .demandCommand(1, "Name a command (see --help).")
  .recommendCommands()
  .help()
  .alias("h", "help")
  .version(sqlfocusVersion())
  .wrap(Math.min(110, process.stdout.columns || 100))
  .fail((msg, err) => {
    if (err) throw err;
    process.stderr.write(`${errorLine(msg)}\n\nRun 'sqlfocus --help' for usage.\n`);
    process.exit(1);
  });
// A reader that stops early (`sqlfocus query … | head`) closes the pipe: stop quietly, as Unix tools do, instead of
// an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
for (const command of commands) cli.command(command);
try {
  await cli.parseAsync();
} catch (err) {
  // Errors from commands: one clear line (the cause chain follows), the stack only with SQLFOCUS_DEBUG=1.
  const e = err as Error & { cause?: unknown };
  process.stderr.write(`${errorLine(e?.message ?? String(err))}\n`);
  if (e?.cause instanceof Error) process.stderr.write(`  caused by: ${e.cause.message}\n`);
  if (process.env.SQLFOCUS_DEBUG) process.stderr.write(`${e?.stack}\n`);
  process.exit(1);
}
