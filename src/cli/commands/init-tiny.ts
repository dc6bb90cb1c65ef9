// PLACEHOLDER: replaced by the owner of this command.
import type { CommandModule } from "yargs";

export const initTinyCommand: CommandModule = {
  command: "init-tiny",
  describe: "(not implemented yet)",
  handler: () => {
    throw new Error("'init-tiny' is not implemented yet");
  },
};
