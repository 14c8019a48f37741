export { FakeDiscord } from './server.ts';
export type { FakeAttachment, FakeChannel, FakeMemberUser, Json, RecordedFile, RecordedRequest, StoredMessage } from './server.ts';
export { snowflake } from './snowflake.ts';
export { P as Permissions } from './permissions.ts';
