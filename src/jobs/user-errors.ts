/**
 * What a user may read about a failure: plain words, never a filesystem path, a stack or a library's raw
 * error. The details go to the log with the job id (job-run.ts logs the error it maps here).
 */

/** An absolute or ./relative path, a Windows path, a file: URL or a stack frame. */
const PATHISH = /(^|[\s"'`(=:])(\/[\w.@~+-]+\/[\w.@~+/-]*|\.{1,2}\/[\w.@~+-]+|[A-Za-z]:\\[\w\\.-]+|file:\/\/\S+)|\bat \S+ \(|\n\s+at /;

export function looksUnsafe(text: string): boolean {
  return PATHISH.test(text) || /\b(vips|libpng|libjpeg|sqlite|onnxruntime|ENOENT|EACCES|ENOSPC|EIO|ERR_[A-Z_]+)\b/i.test(text);
}

/** A sentence for the user about `e` (without a trailing full stop), for a message like "This one failed: …". */
export function plainError(e: unknown, jobId?: string): string {
  const user = (e as { userMessage?: unknown } | undefined)?.userMessage;
  if (typeof user === 'string' && user.trim() && !looksUnsafe(user)) return user.length > 500 ? user.slice(0, 497) + '...' : user;
  const code = (e as { code?: unknown } | undefined)?.code;
  const text = e instanceof Error ? e.message : String(e);
  const ref = jobId ? ` (the details are in the bot's log under job ${jobId})` : '';
  if (code === 'ENOSPC' || /ENOSPC|no space left/i.test(text)) return `The server ran out of disk space while saving this picture${ref}. Please try again later.`;
  if (/\b(ENOMEM|out of memory|bad_alloc|allocation failed)\b/i.test(text)) return `The painter ran out of memory on this one${ref}. A smaller size or fewer cutouts may work.`;
  if (/\b(image|vips|png|jpe?g|webp|gif)\b/i.test(text) && /\b(read|decode|load|corrupt|damaged|truncated|unsupported)\b/i.test(text)) {
    return `One of the images this job starts from could not be read${ref}. Please upload it again, or try another one.`;
  }
  return `The painter hit an internal error${ref}. Please try again; if it keeps happening, tell the bot's admins.`;
}
