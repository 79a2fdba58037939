/**
 * Reads the entries of `pipelines` and their tasks, checking each option against its schema and
 * keeping the raw options for the cross-checks.
 */
import type { PipelineView, TaskView } from "./checks.js";
import { isRecord, name, taskFn } from "./fields.js";
import { issuesToProblems, joinPath, problemAt, type Where } from "./issues.js";
import { isPipelineDefinition } from "./pipeline.js";
import type { ConfigProblem } from "./resolved.js";
import { pipelineOptionsSchema, taskOptionsSchema, type ParsedPipelineOptions, type ParsedTaskOptions } from "./schema.js";
import type { TaskFn } from "./types.js";
import { describe } from "./words.js";

export interface ParsedTask {
  view: TaskView;
  /** `undefined` when the options failed their schema (the config is then invalid anyway). */
  options: ParsedTaskOptions | undefined;
  fn: TaskFn;
}

export interface ParsedPipeline {
  view: PipelineView;
  options: ParsedPipelineOptions | undefined;
  tasks: ParsedTask[];
}

/** One entry of `pipelines`, or `undefined` (and a problem) when it is not a pipeline. */
export function readPipeline(entry: unknown, index: number, problems: ConfigProblem[]): ParsedPipeline | undefined {
  const entryWhere: Where = { path: `pipelines[${index}]` };
  if (!isPipelineDefinition(entry)) {
    const message = `pipelines[${index}] is ${describe(entry)}, not a pipeline; create it with pipeline("id", options) and list the result.`;
    problems.push(problemAt(entryWhere, undefined, message));
    return undefined;
  }
  const id = checkName(entry.id, "pipeline id", entryWhere, problems);
  const label = id ?? `#${index + 1}`;
  const where: Where = {
    path: id === undefined ? entryWhere.path : joinPath("pipelines", id),
    pipeline: label,
    subject: `pipeline ${JSON.stringify(label)}`,
    label: "options",
  };
  const options = pipelineOptionsSchema.safeParse(entry.options);
  if (!options.success) problems.push(...issuesToProblems(options.error.issues, where));
  const tasks = entry.tasks.map((task, j) => readTask(task, j, where, problems));
  const isolation = isRecord(entry.options) ? entry.options.isolation : undefined;
  return { view: { id: label, where, tasks: tasks.map((t) => t.view), ...(isolation !== undefined ? { isolation } : {}) }, options: options.data, tasks };
}

function readTask(task: { id: unknown; options: unknown; fn: unknown }, index: number, pipeline: Where, problems: ConfigProblem[]): ParsedTask {
  const at: Where = { path: joinPath(pipeline.path, "tasks", index), pipeline: pipeline.pipeline, subject: pipeline.subject };
  const id = checkName(task.id, "task id", at, problems);
  const label = id ?? `#${index + 1}`;
  const where: Where = {
    path: id === undefined ? at.path : joinPath(pipeline.path, "tasks", id),
    pipeline: pipeline.pipeline,
    task: label,
    subject: `task ${JSON.stringify(label)} of pipeline ${JSON.stringify(pipeline.pipeline)}`,
    label: "options",
  };
  const options = taskOptionsSchema.safeParse(task.options);
  if (!options.success) problems.push(...issuesToProblems(options.error.issues, where));
  const fn = taskFn.safeParse(task.fn);
  if (!fn.success) problems.push(problemAt(where, "fn", `fn ${fn.error.issues[0]?.message ?? "must be a function."}`));
  return {
    view: { id: label, where, raw: isRecord(task.options) ? task.options : {} },
    options: options.data,
    fn: task.fn as TaskFn,
  };
}

function checkName(value: unknown, kind: string, where: Where, problems: ConfigProblem[]): string | undefined {
  const result = name(kind).safeParse(value);
  if (result.success) return result.data;
  problems.push(problemAt(where, "id", result.error.issues[0]?.message ?? `${kind} is not valid.`));
  return undefined;
}
