// PLACEHOLDER: replaced by the owner of this command.
import type { CommandModule } from "yargs";

export const evalCommand: CommandModule = {
  command: "eval",
  describe: "(not implemented yet)",
  handler: () => {
    throw new Error("'eval' is not implemented yet");
  },
};
