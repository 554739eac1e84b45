/**
 * What the shared preamble (`startScript` in `_cli.ts`) hands every script.
 *
 * @module
 */

import type { Flags } from "./_flags.ts";

/** What `startScript` hands a script: its parsed flags and the shared settings. */
export interface ScriptContext<S extends string> {
  /** The script's name, as in `deno task <script>`. */
  script: string;
  /** Every flag's value, defaults filled in, all checked. */
  flags: Flags;
  /** The flags given on the command line (the others hold their defaults). */
  given: ReadonlySet<string>;
  /** `--quick`: tiny data and few epochs. */
  quick: boolean;
  /** `--seed`. */
  seed: number;
  /** The sections chosen with `--only` (all when the script has none to choose). */
  only: Set<S>;
  /** The output folder, created: `--out`, else `out/<script>` (`/quick` for quick runs). */
  dir: string;
  /** When the script started, as an ISO date. */
  startedAt: string;
  /** Seconds since the script started, rounded to 0.1 s. */
  elapsedSeconds(): number;
  /**
   * The value of an integer flag, or `quickValue` in a `--quick` run unless the flag was
   * given (a flag you give is never ignored).
   */
  int(name: string, quickValue?: number): number;
  /** The value of a number flag, or `quickValue` in a `--quick` run unless it was given. */
  number(name: string, quickValue?: number): number;
}
