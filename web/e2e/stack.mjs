// The real `make dev` stack on free ports, for the end-to-end tests: started, waited for, stopped.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** `parameters`: template parameter overrides, as `make dev PARAMETER_OVERRIDES="Name=value ..."` takes them. */
export async function startDev({ timeoutMs = 180_000, parameters = {} } = {}) {
  // make dev on ephemeral ports (0): it prints the URLs it got
  const overrides = Object.entries(parameters).map(([name, value]) => `${name}=${value}`).join(" ");
  const child = spawn("make", ["--no-print-directory", "dev", "API_PORT=0", "WS_PORT=0", "WEB_PORT=0", `PARAMETER_OVERRIDES=${overrides}`], {
    cwd: ROOT,
    detached: true, // its own process group, so stopping it stops the Python stack too
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  let output = "";
  const urls = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`make dev did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const read = (chunk) => {
      output += chunk;
      const web = /Dashboard\s+(http:\/\/\S+)/.exec(output);
      const api = /REST API\s+(http:\/\/\S+?)\/api\/v1/.exec(output);
      const ws = /WebSocket\s+(ws:\/\/\S+)/.exec(output);
      const aws = /embedded AWS: moto at (http:\/\/[^\s)]+)/.exec(output);
      if (web && api && ws && aws) {
        clearTimeout(timer);
        resolve({ web: web[1], api: api[1], ws: ws[1], aws: aws[1] });
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("exit", (code) => reject(new Error(`make dev exited with ${code}:\n${output}`)));
  });
  return {
    ...urls,
    log: () => output,
    stop: () =>
      new Promise((resolve) => {
        child.on("exit", resolve);
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {
          resolve();
        }
        setTimeout(() => {
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {
            /* already gone */
          }
          resolve();
        }, 10_000);
      }),
  };
}

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
