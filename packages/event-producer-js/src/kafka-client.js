'use strict';
/**
 * The Kafka client package, `@platformatic/kafka`, loaded once for kafka-transport.js and
 * partitioner.js. It is an ES module: Node.js loads it with `require` from 20.19 on; an older Node
 * gets an error saying so (instead of ERR_REQUIRE_ESM), at the first `require` of this library.
 */

function load() {
  try {
    return require('@platformatic/kafka');
  } catch (err) {
    if (err && (err.code === 'ERR_REQUIRE_ESM' || err.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
      throw new Error(`@254carbon/event-producer needs Node.js 20.19 or newer (its Kafka client, @platformatic/kafka, ` +
        `is an ES module loaded with require); this is Node.js ${process.versions.node}`, { cause: err });
    }
    throw err;
  }
}

module.exports = load();
