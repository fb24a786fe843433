// Where a build context comes from. Each scheme (dir://, tar://, s3://, gs://, azure blob, git://,
// https://) is one module implementing this; pick.ts chooses by the --context prefix.

export interface ContextSource {
  /** The scheme as kaniko spells its prefix ('dir', 'tar', 's3', ...), for logs and errors. */
  readonly scheme: string;
  /**
   * Make the context available on disk and return its root directory. Remote sources download or
   * unpack into workDir; a local directory is returned in place.
   */
  fetch(workDir: string, signal: AbortSignal): Promise<string>;
}
