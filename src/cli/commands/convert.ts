// PLACEHOLDER: replaced by the owner of this command.
import type { CommandModule } from "yargs";

export const convertCommand: CommandModule = {
  command: "convert",
  describe: "(not implemented yet)",
  handler: () => {
    throw new Error("'convert' is not implemented yet");
  },
};
