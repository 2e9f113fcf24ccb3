/** The same store tests through a Sentinel URL (one master, one sentinel). */
import { after, before } from 'node:test';
import { startSentinel, type SentinelProcess } from './helpers/redis-server.ts';
import { storeSuite } from './helpers/store-suite.ts';

let sentinel: SentinelProcess;
before(async () => {
  sentinel = await startSentinel();
});
after(async () => {
  await sentinel?.stop();
});

storeSuite(() => sentinel.url);
