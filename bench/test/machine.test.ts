// The machine facts printed beside every result: how an idle CPU waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describeCpuIdle, machineFacts } from '../src/machine.ts';

test('cpuidle: the driver, and whether a KVM guest polls before it halts', () => {
  assert.equal(describeCpuIdle(undefined, undefined, undefined), undefined);
  assert.equal(describeCpuIdle('intel_idle', 'menu', undefined), 'cpuidle intel_idle (governor menu)');
  assert.equal(describeCpuIdle('haltpoll', 'haltpoll', '0'), 'cpuidle haltpoll, guest halt polling off (every idle halts the vCPU)');
  assert.equal(describeCpuIdle('haltpoll', 'haltpoll', '200000'), 'cpuidle haltpoll, guest polls up to 200 µs before halting');
  assert.equal(describeCpuIdle('haltpoll', undefined, undefined), 'cpuidle haltpoll');
});

test('machineFacts reads cpuidle where the kernel exposes it', () => {
  const facts = machineFacts();
  assert.ok(facts.cores >= 1);
  if (existsSync('/sys/devices/system/cpu/cpuidle/current_driver')) assert.match(facts.cpuIdle ?? '', /^cpuidle \S+/);
  else assert.equal(facts.cpuIdle, undefined);
});
