'use strict';
/**
 * Key -> partition, as every carbonplane producer computes it: `(murmur2(key) & 0x7fffffff) % n`,
 * Kafka's Java client (`Utils.murmur2`, `toPositive`), librdkafka's `murmur2_random` (the Python
 * library's setting) and kafkajs's DefaultPartitioner alike. Known vector: Java
 * `Utils.murmur2("21".getBytes()) = -973932308`.
 *
 * `murmur2` is not reimplemented here: it is the Kafka client's own (`@platformatic/kafka`, a port
 * of the Java client's `Utils.murmur2`, pinned to an exact version in package.json), and the
 * producer (kafka-transport.js) places every keyed record with `partitionOfKey`, so these functions
 * say exactly where the producer sends a key.
 */

const { murmur2: clientMurmur2 } = require('./kafka-client');

/** Kafka's murmur2 of a key (string: its UTF-8 bytes), as a signed 32-bit integer like Java's. */
function murmur2(key) {
  return clientMurmur2(typeof key === 'string' ? Buffer.from(key, 'utf8') : key);
}

/** The partition of a (non-null) key among `partitions`, unchecked: the producer's hot path. */
function partitionOfKey(key, partitions) {
  // the client caches the hash of recent string keys (its murmur2 computes with BigInt)
  const hash = typeof key === 'string' ? clientMurmur2(key, true) : clientMurmur2(key);
  return (hash & 0x7fffffff) % partitions;
}

/** The partition of `key` in a topic of `partitions` partitions. */
function partitionFor(key, partitions) {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  if (key === null || key === undefined) throw new TypeError('partitionFor needs a key: records without one go round-robin');
  return partitionOfKey(key, partitions);
}

module.exports = { murmur2, partitionFor, partitionOfKey };
