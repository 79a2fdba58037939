// Two pipelines every second that overlap, with declared memory and a shared pool of 1 slot,
// so `sluice analyze` on the store sees overlaps, memory and a saturated pool.
import { defineConfig, pipeline } from "sluice";
import { sleep } from "../cli/helpers.js";

const heavy = pipeline("heavy", { schedule: { every: "1s" } });
heavy.task("load", { memoryMb: 300, pools: { warehouse: 1 } }, async (ctx) => void (await sleep(400, ctx.signal)));
const light = pipeline("light", { schedule: { every: "1s" } });
light.task("sync", { memoryMb: 200 }, async (ctx) => void (await sleep(600, ctx.signal)));

export default defineConfig({ pools: { warehouse: { slots: 1 } }, worker: { concurrency: 4, memoryMb: 2000 }, pipelines: [heavy, light] });
