// PLACEHOLDER: replaced by the owner of this command.
import type { CommandModule } from "yargs";

export const prepareCommand: CommandModule = {
  command: "prepare",
  describe: "(not implemented yet)",
  handler: () => {
    throw new Error("'prepare' is not implemented yet");
  },
};
