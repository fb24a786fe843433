// Runs tasks with at most `limit` in flight, in order of start. Shared by the registry client (parallel blob
// uploads) and the warmer (parallel image downloads); a root file because neither owns the idea.
export async function runLimited(tasks: readonly (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const task = tasks[next++];
      if (task !== undefined) await task();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, worker));
}
