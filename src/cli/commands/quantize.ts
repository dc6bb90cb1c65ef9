// PLACEHOLDER: replaced by the owner of this command.
import type { CommandModule } from "yargs";

export const quantizeCommand: CommandModule = {
  command: "quantize",
  describe: "(not implemented yet)",
  handler: () => {
    throw new Error("'quantize' is not implemented yet");
  },
};
