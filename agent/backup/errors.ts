/**
 * @layer logic
 * BackupError: a backup that cannot be made or failed. Its message starts with '[backup]' and,
 * for a run that had begun, says that no restore point was recorded; `cause` is what failed.
 */
export class BackupError extends Error {
  override name = 'BackupError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
