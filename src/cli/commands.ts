// The list of CLI commands; each lives in its own file under ./commands/.
import type { CommandModule } from "yargs";
import { initTinyCommand } from "./commands/init-tiny.js";
import { finetuneCommand } from "./commands/finetune.js";
import { demoCommand } from "./commands/demo.js";
import { mergeCommand } from "./commands/merge.js";
import { convertCommand } from "./commands/convert.js";
import { quantizeCommand } from "./commands/quantize.js";
import { serveCommand } from "./commands/serve.js";
import { mschemaCommand } from "./commands/mschema.js";
import { queryCommand } from "./commands/query.js";
import { prepareCommand } from "./commands/prepare.js";
import { evalCommand } from "./commands/eval.js";
import { linkCommand } from "./commands/link.js";
import { boardCommand } from "./commands/board.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  demoCommand,
  initTinyCommand,
  finetuneCommand,
  mergeCommand,
  convertCommand,
  quantizeCommand,
  serveCommand,
  mschemaCommand,
  queryCommand,
  prepareCommand,
  evalCommand,
  linkCommand,
  boardCommand,
];
