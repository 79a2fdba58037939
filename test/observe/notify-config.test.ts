/** The notification options are checked like every other option, and stay out of the store. */
import { describe, expect, it } from "vitest";
import { defineConfig, formatProblems, pipeline, resolveConfig, type ConfigProblem } from "../../src/define/index.js";
import { NOTIFY_DEFAULTS } from "../../src/define/notify.js";
import { definitionsOf, fingerprintOf } from "../../src/define/stored.js";

function problemsOf(config: unknown): ConfigProblem[] {
  const result = resolveConfig(config);
  if (result.ok) throw new Error("expected the config to be rejected");
  return result.problems;
}

describe("notify options", () => {
  it("report a bad webhook URL, an unknown event (with a suggestion), a bad header, a bad duration and a non-function hook, each at its path", () => {
    const p = pipeline("p", { onFailure: "page me" as never });
    p.task("t", { onRetry: 3 as never }, () => 1);
    const problems = problemsOf(
      defineConfig({
        pipelines: [p],
        notify: {
          webhooks: [{ url: "ftp://example.com", events: ["run.faild" as never], headers: { "x-a": "1\r\nInjected: yes" }, retryDelay: "soon" as never, queueSize: 0 }],
          hookTimeout: 0,
        },
      }),
    );
    const text = formatProblems(problems);
    const byPath = (path: string) => problems.filter((q) => q.path === path).map((q) => q.message).join(" | ");
    expect(byPath("notify.webhooks[0].url"), text).toMatch(/must be an http:\/\/ or https:\/\/ URL \(got "ftp:\/\/example.com"\)/);
    expect(byPath("notify.webhooks[0].events"), text).toMatch(/events entry 0 must be one of .*"run.failed".*[Dd]id you mean "run.failed"/);
    expect(byPath("notify.webhooks[0].headers.x-a"), text).toMatch(/without line breaks/);
    expect(byPath("notify.webhooks[0].retryDelay"), text).toMatch(/must be a positive duration/);
    expect(byPath("notify.webhooks[0].queueSize"), text).toMatch(/at least 1/);
    expect(byPath("notify.hookTimeout"), text).toMatch(/positive duration/);
    expect(byPath("pipelines.p.onFailure"), text).toMatch(/must be a function \(got "page me"\)/);
    expect(byPath("pipelines.p.tasks.t.onRetry"), text).toMatch(/must be a function/);
  });

  it("apply defaults; events '*' means all; hooks and webhooks (with their secret headers) are not part of the stored definitions", () => {
    const p = pipeline("p", { onFailure: () => undefined });
    p.task("t", { onSuccess: () => undefined }, () => 1);
    const result = resolveConfig(defineConfig({ pipelines: [p], notify: { webhooks: [{ url: "https://h.example/x", headers: { authorization: "Bearer s3cret" } }, { url: "http://127.0.0.1:9/y", events: "*", queueSize: 5 }] } }));
    if (!result.ok) throw new Error(formatProblems(result.problems));
    const { notify } = result.config;
    expect(notify?.hookTimeoutMs).toBe(10_000);
    expect(notify?.webhooks[0]).toMatchObject({ events: [...NOTIFY_DEFAULTS.webhook.events], timeoutMs: 10_000, retryDelayMs: 1000, maxRetryDelayMs: 60_000, maxAgeMs: 86_400_000, queueSize: 1000 });
    expect(notify?.webhooks[1]?.events).toHaveLength(10);
    expect(result.config.pipelines[0]?.hooks?.onFailure).toBeTypeOf("function");
    const stored = JSON.stringify(definitionsOf(result.config));
    expect(stored).not.toMatch(/s3cret|hooks|notify|onFailure/);
    // A worker without the hooks (or with other ones) runs the same definitions.
    const bare = pipeline("p");
    bare.task("t", () => 1);
    const plain = resolveConfig(defineConfig({ pipelines: [bare] }));
    if (!plain.ok) throw new Error("plain config rejected");
    expect(fingerprintOf(definitionsOf(plain.config))).toBe(fingerprintOf(definitionsOf(result.config)));
  });

  it("refuses a webhook pipelines filter naming a pipeline the config does not have", () => {
    const p = pipeline("daily_sales");
    p.task("t", () => 1);
    const problems = problemsOf(defineConfig({ pipelines: [p], notify: { webhooks: [{ url: "http://h.test/", pipelines: ["daily_sale"] }] } }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: "notify.webhooks[0].pipelines[0]" });
    expect(problems[0]?.message).toMatch(/names "daily_sale", which is not a pipeline of this config; known: "daily_sales"\. Did you mean "daily_sales"\?/);
  });
});
