/** The wire constants Berth spells out (so the SDK loads only when needed) are the SDK's own. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as sdk from '@modelcontextprotocol/server';
import * as keys from '../src/protocol/meta-keys.ts';

test('every meta key and revision list equals the SDK constant of the same meaning', () => {
  assert.equal(keys.PROTOCOL_VERSION_META_KEY, sdk.PROTOCOL_VERSION_META_KEY);
  assert.equal(keys.CLIENT_INFO_META_KEY, sdk.CLIENT_INFO_META_KEY);
  assert.equal(keys.CLIENT_CAPABILITIES_META_KEY, sdk.CLIENT_CAPABILITIES_META_KEY);
  assert.equal(keys.SERVER_INFO_META_KEY, sdk.SERVER_INFO_META_KEY);
  assert.equal(keys.SUBSCRIPTION_ID_META_KEY, sdk.SUBSCRIPTION_ID_META_KEY);
  assert.equal(keys.LOG_LEVEL_META_KEY, sdk.LOG_LEVEL_META_KEY);
  assert.deepEqual([...keys.LEGACY_PROTOCOL_VERSIONS], [...sdk.SUPPORTED_PROTOCOL_VERSIONS]);
  assert.equal(keys.LATEST_LEGACY_PROTOCOL_VERSION, sdk.SUPPORTED_PROTOCOL_VERSIONS[0]);
  assert.equal(keys.DEFAULT_NEGOTIATED_PROTOCOL_VERSION, sdk.DEFAULT_NEGOTIATED_PROTOCOL_VERSION);
  for (const key of [keys.PROTOCOL_VERSION_META_KEY, keys.CLIENT_INFO_META_KEY, keys.LOG_LEVEL_META_KEY]) assert.ok(key.startsWith(keys.META_PREFIX));
});
