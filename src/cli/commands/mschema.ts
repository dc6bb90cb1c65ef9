// PLACEHOLDER: replaced by the owner of this command.
import type { CommandModule } from "yargs";

export const mschemaCommand: CommandModule = {
  command: "mschema",
  describe: "(not implemented yet)",
  handler: () => {
    throw new Error("'mschema' is not implemented yet");
  },
};
