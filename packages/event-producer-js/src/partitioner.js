'use strict';
/**
 * Key -> partition, as every carbonplane producer computes it: `(murmur2(key) & 0x7fffffff) % n`,
 * Kafka's Java client (`Utils.murmur2`, `toPositive`), librdkafka's `murmur2_random` (the Python
 * library's setting) and kafkajs's DefaultPartitioner alike. Known vector: Java
 * `Utils.murmur2("21".getBytes())` = -973932308.
 *
 * Nothing is reimplemented here: `murmur2` is kafkajs's own (kafkajs is pinned to an exact version
 * in package.json, so its module path is stable), and `partitionFor` asks the DefaultPartitioner
 * the producer uses, so these functions say exactly where the producer sends a key.
 */

const { Partitioners } = require('kafkajs');
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2');

/** Kafka's murmur2 of a key (string: its UTF-8 bytes), as a signed 32-bit integer like Java's. */
function murmur2(key) {
  return kafkajsMurmur2(typeof key === 'string' ? Buffer.from(key, 'utf8') : key);
}

const defaultPartitioner = Partitioners.DefaultPartitioner();

/** The partition of `key` in a topic of `partitions` partitions. */
function partitionFor(key, partitions) {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0 }));
  return defaultPartitioner({ topic: '', partitionMetadata, message: { key } });
}

module.exports = { murmur2, partitionFor };
