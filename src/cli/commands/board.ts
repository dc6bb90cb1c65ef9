// PLACEHOLDER: replaced by the owner of this command.
import type { CommandModule } from "yargs";

export const boardCommand: CommandModule = {
  command: "board",
  describe: "(not implemented yet)",
  handler: () => {
    throw new Error("'board' is not implemented yet");
  },
};
