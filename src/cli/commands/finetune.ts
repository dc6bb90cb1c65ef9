// PLACEHOLDER: replaced by the owner of this command.
import type { CommandModule } from "yargs";

export const finetuneCommand: CommandModule = {
  command: "finetune",
  describe: "(not implemented yet)",
  handler: () => {
    throw new Error("'finetune' is not implemented yet");
  },
};
