// PLACEHOLDER: replaced by the owner of this command.
import type { CommandModule } from "yargs";

export const mergeCommand: CommandModule = {
  command: "merge",
  describe: "(not implemented yet)",
  handler: () => {
    throw new Error("'merge' is not implemented yet");
  },
};
