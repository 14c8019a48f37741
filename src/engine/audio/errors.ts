/** Why a file could not be used as speech; `userMessage` is shown to the member as is. */
export type AudioErrorCode = 'not_audio' | 'unsupported' | 'damaged' | 'too_long' | 'empty' | 'no_decoder';

export class AudioError extends Error {
  override readonly name = 'AudioError';
  constructor(
    readonly code: AudioErrorCode,
    message: string,
  ) {
    super(message);
  }
}
