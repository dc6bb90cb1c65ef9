// PLACEHOLDER: replaced by the owner of this command.
import type { CommandModule } from "yargs";

export const demoCommand: CommandModule = {
  command: "demo",
  describe: "(not implemented yet)",
  handler: () => {
    throw new Error("'demo' is not implemented yet");
  },
};
