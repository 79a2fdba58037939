import type { Command } from "commander";
export function registerRuntimeCommands(_program: Command): void {}
