import assert from 'node:assert/strict';
import { test } from 'node:test';
import { intentMetadata, parseIntent } from './offsets.js';
import { dedupToken, PartitionState, type Batch } from './partition.js';
import { RowBinaryWriter } from './row-binary.js';

function batch(first: number, rows: number, openedAt = 0): Batch {
  return {
    topic: 't', partition: 2, firstOffset: first, lastOffset: first + rows - 1, firstTimestamp: '100', lastTimestamp: '200', rows,
    writer: new RowBinaryWriter(64), rowStarts: [], rowOffsets: [], deadLetters: [], openedAt, replayed: false,
  };
}

test('a batch is full by rows (dead letters included) or bytes, and old by age', () => {
  const st = new PartitionState('t', 2);
  st.open = batch(0, 9, 1000);
  assert.equal(st.isFull(10, 1 << 20), false);
  st.open.deadLetters.push({ offset: 9, timestamp: '1', key: null, value: null, headers: {}, kind: 'empty', reason: 'x' });
  assert.equal(st.isFull(10, 1 << 20), true);
  st.open.writer.pos = 60;
  assert.equal(st.isFull(100, 50), true);
  assert.equal(st.isOld(1500, 1000), false);
  assert.equal(st.isOld(2000, 1000), true);
});

test('a replayed batch ends exactly at the intent, whatever the size and age settings', () => {
  const st = new PartitionState('t', 2);
  st.replayEnd = 99;
  st.open = batch(50, 30, 0);
  assert.equal(st.isFull(10, 1), false, 'not sealed early by size');
  assert.equal(st.isOld(1e12, 1), false, 'not sealed early by age');
  assert.equal(st.mustSealBefore(99), false);
  assert.equal(st.mustSealBefore(100), true, 'a record past the intent closes it');
  st.open.lastOffset = 99;
  assert.equal(st.isFull(1_000_000, 1 << 30), true);
  const sealed = st.seal();
  assert.equal(sealed?.replayed, true);
  assert.equal(st.replayEnd, undefined);
  assert.equal(st.sealed.length, 1);
});

test('the dedup token names topic, partition, offset range and timestamps; a split range gets its own', () => {
  const b = batch(1000, 500);
  assert.equal(dedupToken(b), 'lookback:t:2:1000-1499:100-200');
  assert.equal(dedupToken(b, 0, 500), dedupToken(b));
  assert.equal(dedupToken(b, 0, 250), 'lookback:t:2:1000-1499:100-200:rows0-250');
});

test('the intent metadata round-trips and ignores anything else', () => {
  assert.equal(parseIntent(intentMetadata(12345)), 12345);
  assert.equal(parseIntent(null), undefined);
  assert.equal(parseIntent(''), undefined);
  assert.equal(parseIntent('some other tool'), undefined);
  assert.equal(parseIntent('lookback-ingest:v1:-3'), undefined);
});
