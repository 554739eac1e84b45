/**
 * A documented command run in a pseudo-terminal, as a user runs it: Deno asks for missing
 * permissions only when it has a terminal, so a run without one (CI) never sees a prompt.
 * Uses util-linux `script` (needs `--allow-run=script`); skipped with a message without it.
 */
import assert from "node:assert/strict";

/** Whether `script` (util-linux) can be run. */
async function hasScript(): Promise<boolean> {
  try {
    const { code } = await new Deno.Command("script", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

const available = await hasScript();
if (!available) {
  console.warn("pty_test: util-linux `script` is not installed; skipping the terminal test");
}

Deno.test({
  name: "`deno task demo --quick` in a pseudo-terminal finishes without a permission prompt",
  ignore: !available,
  async fn() {
    const dir = "out/test-cli/pty";
    const child = new Deno.Command("script", {
      args: ["-qec", `deno task demo --quick --out ${dir}`, "/dev/null"],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    // A prompt would wait for an answer forever: stop the run as soon as one shows, or
    // after three minutes. Closing the terminal (script exits) hangs up the run inside it.
    const timer = setTimeout(() => child.kill("SIGTERM"), 180_000);
    let out = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      out += decoder.decode(chunk, { stream: true });
      if (/Deno requests/.test(out)) {
        child.kill("SIGTERM");
        break;
      }
    }
    const { code } = await child.status;
    clearTimeout(timer);
    assert.doesNotMatch(out, /Deno requests|Granted|Denied/, out);
    assert.equal(code, 0, out);
    assert.match(out, /Wrote out\/test-cli\/pty\/results\.json/, out);
    await Deno.remove(dir, { recursive: true });
  },
});
