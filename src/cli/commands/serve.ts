// PLACEHOLDER: replaced by the owner of this command.
import type { CommandModule } from "yargs";

export const serveCommand: CommandModule = {
  command: "serve",
  describe: "(not implemented yet)",
  handler: () => {
    throw new Error("'serve' is not implemented yet");
  },
};
