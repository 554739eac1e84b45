/**
 * The pool seen from outside: a script that uses it exits on its own, and `mod.ts`
 * imported from an http URL starts its workers from that URL.
 */
import assert from "node:assert/strict";
import { join, resolve } from "node:path";

const repo = resolve(".");

async function runDeno(args: string[], env: Record<string, string> = {}) {
  const t0 = performance.now();
  const { code, stdout, stderr } = await new Deno.Command("deno", {
    args,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code,
    seconds: (performance.now() - t0) / 1000,
    out: new TextDecoder().decode(stdout),
    err: new TextDecoder().decode(stderr),
  };
}

const MOD_URL = new URL("../../mod.ts", import.meta.url).href;

/**
 * Runs `script` (TypeScript; its last line of output is JSON) as a fresh `deno run` with
 * the given permission flags, from a temporary folder under out/; returns that JSON.
 */
async function runClient(name: string, script: string, permissions: string[]) {
  const dir = await Deno.makeTempDir({ dir: "out" });
  try {
    const path = join(dir, name);
    await Deno.writeTextFile(path, script);
    const r = await runDeno(["run", "--no-lock", ...permissions, path]);
    assert.equal(r.code, 0, r.err);
    return { ...JSON.parse(r.out.trim().split("\n").at(-1)!), seconds: r.seconds };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A script that uses the library's pool through mod.ts at `modUrl` and prints results. */
function clientScript(modUrl: string): string {
  return `
import { convForwardFast, getPool, Rng, setNumThreads, Tensor } from ${JSON.stringify(modUrl)};
const rng = new Rng(1);
const x = Tensor.randn([16, 8, 10, 10], rng, "float32");
const w = Tensor.randn([4, 8, 3, 3], rng, "float32");
const b = Tensor.randn([4], rng, "float32");
await setNumThreads(1);
const [single] = convForwardFast(x, w, b, { stride: 1, pad: 1 });
await setNumThreads(2);
const pool = getPool();
const [multi] = convForwardFast(x, w, b, { stride: 1, pad: 1 });
const out = new Float64Array(new SharedArrayBuffer(8 * 64));
pool.run("pool.fill", { out, value: 1 }, 64);
console.log(JSON.stringify({
  threads: pool.activeThreads,
  last: out[63],
  first: out[0],
  convEqual: multi.data.every((v, i) => v === single.data[i]),
}));
// No close(): the pool must not keep the process alive.
`;
}

Deno.test("a script that uses the pool and never closes it still exits", {
  sanitizeOps: true,
  sanitizeResources: true,
}, async () => {
  const { seconds, ...result } = await runClient("client.ts", clientScript(MOD_URL), [
    `--allow-read=${repo}`,
  ]);
  assert.deepEqual(result, { threads: 2, last: 64, first: 1, convEqual: true });
  assert.ok(seconds < 20, `took ${seconds} s`);
});

Deno.test("mod.ts imported from an http URL runs its workers from that URL", {
  sanitizeOps: true,
  sanitizeResources: true,
}, async () => {
  const dir = await Deno.makeTempDir({ dir: "out" });
  const clientPath = join(dir, "client.ts");
  // Serve the repository read-only on loopback; nothing else is reachable.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    const file = resolve(repo, "." + path);
    if (!file.startsWith(repo + "/")) return new Response("forbidden", { status: 403 });
    try {
      return new Response(await Deno.readFile(file), {
        headers: { "content-type": "application/typescript" },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    await Deno.writeTextFile(clientPath, clientScript(`http://${host}/mod.ts`));
    const r = await runDeno(
      ["run", "--no-lock", "--reload", `--allow-import=${host}`, `--allow-read=${dir}`, clientPath],
      { DENO_DIR: join(dir, "deno_dir") },
    );
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), { threads: 2, last: 64, first: 1, convEqual: true });
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a synchronous loop that never awaits the pool still gets every thread", {
  sanitizeOps: true,
  sanitizeResources: true,
}, async () => {
  // No await anywhere: the workers must start on the first parallel call and take work
  // once they have loaded, without the calling thread ever returning to its event loop.
  const script = `
import { convForwardFast, getPool, Rng, setNumThreads, Tensor } from ${JSON.stringify(MOD_URL)};
void setNumThreads(2);
const rng = new Rng(0);
const x = Tensor.randn([32, 8, 16, 16], rng, "float32");
const w = Tensor.randn([8, 8, 3, 3], rng, "float32"), b = Tensor.zeros([8], "float32");
const start = performance.now();
let calls = 0;
while (getPool().activeThreads < 2 && performance.now() - start < 10000) {
  convForwardFast(x, w, b, { stride: 1, pad: 1 });
  calls++;
}
console.log(JSON.stringify({ active: getPool().activeThreads, calls }));
`;
  const result = await runClient("sync_loop.ts", script, [`--allow-read=${repo}`]);
  assert.equal(result.active, 2, `workers never became active (${JSON.stringify(result)})`);
});

Deno.test("without read access to lib/, the pool stays on one thread and names the flag", {
  sanitizeOps: true,
  sanitizeResources: true,
}, async () => {
  const script = `
import { convForwardFast, getNumThreads, setNumThreads, Tensor } from ${JSON.stringify(MOD_URL)};
const x = Tensor.ones([8, 2, 6, 6], "float32"), w = Tensor.ones([2, 2, 3, 3], "float32");
const [out] = convForwardFast(x, w, Tensor.zeros([2], "float32"), { stride: 1, pad: 1 });
let message = "";
try { await setNumThreads(2); } catch (e) { message = (e as Error).message; }
console.log(JSON.stringify({ threads: getNumThreads(), centre: out.get(0, 0, 2, 2), message }));
`;
  const result = await runClient("no_read.ts", script, []);
  assert.equal(result.threads, 1);
  assert.equal(result.centre, 18); // the layer still ran, on the calling thread
  const lib = new URL("../../lib", import.meta.url).pathname;
  assert.match(result.message, new RegExp(`setNumThreads: .* Run with --allow-read=${lib}`));
});
