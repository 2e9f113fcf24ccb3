/** Session, event and bus stores against a real standalone redis-server. */
import { after, before } from 'node:test';
import { startRedis, type RedisProcess } from './helpers/redis-server.ts';
import { storeSuite } from './helpers/store-suite.ts';

let redis: RedisProcess;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

storeSuite(() => redis.url);
