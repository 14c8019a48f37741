/** Exit codes of `bin/reverie` (and `npm start`): each with one line on stderr, never a stack trace. */
export const EXIT_OK = 0;
/** something else went wrong (the line says what) */
export const EXIT_FAILED = 1;
/** a configuration error, or model weights missing */
export const EXIT_CONFIG = 1;
/** the job store (DB_PATH) is damaged, or empty while the data folder holds jobs: restore a backup or move it aside */
export const EXIT_STORE_DAMAGED = 3;
/** another Reverie holds this store's lease */
export const EXIT_STORE_IN_USE = 4;
