'use strict';
/**
 * The linger queue between the producer's methods and the broker: events from many calls travel
 * in one produce request, and a caller that does not await pays no round trip per event.
 *
 * Theory of operation. `push` appends a sealed record and returns a promise of its delivery. When
 * the queue was idle, a timer of `lingerMs` starts; when it fires (or the queue holds a full batch,
 * or `flush` is called) the drain loop sends batches of at most `maxBatchCount` records and
 * `maxBatchBytes` bytes, one request at a time (the idempotent producer keeps per-partition order
 * that way), until the queue is empty. Records that arrive while a request is in flight wait for
 * it and leave together in the next one, so batches grow with the load by themselves.
 *
 * Invariants:
 * - every pushed record settles exactly once: resolved with its delivery report, or rejected with
 *   the error that the send function gave for it (or the one `failAll` was given);
 * - records leave in push order; a record bigger than `maxBatchBytes` travels alone;
 * - `pending` counts pushed records not yet settled; `idle()` resolves when it is zero.
 *
 * The send function is `(records) => Promise<Array<report|Error>>`, one outcome per record, and
 * must not throw (a thrown error fails the whole batch with it).
 */

class DeliveryQueue {
  /**
   * @param {(records: object[]) => Promise<Array<object|Error>>} send
   * @param {{lingerMs: number, maxBatchCount: number, maxBatchBytes: number}} limits
   */
  constructor(send, { lingerMs, maxBatchCount, maxBatchBytes }) {
    this._send = send;
    this._lingerMs = lingerMs;
    this._maxCount = maxBatchCount;
    this._maxBytes = maxBatchBytes;
    this._queue = [];
    this._queuedBytes = 0;
    this._inFlight = 0;
    this._timer = null;
    this._draining = false;
    this._idleWaiters = [];
  }

  /** Records pushed and not yet settled (queued or in flight). */
  get pending() {
    return this._queue.length + this._inFlight;
  }

  /**
   * Queue one record ({topic, key, value, headers, timestamp, size}); resolves with the report the
   * send function returns for it.
   */
  push(record) {
    return new Promise((resolve, reject) => {
      this._queue.push({ record, resolve, reject });
      this._queuedBytes += record.size;
      if (this._draining) return;
      if (this._queue.length >= this._maxCount || this._queuedBytes >= this._maxBytes) this._startDrain();
      else if (this._timer === null) this._timer = setTimeout(() => this._startDrain(), this._lingerMs);
    });
  }

  /** Send what is queued now, without waiting for the linger time. */
  kick() {
    if (this._queue.length && !this._draining) this._startDrain();
  }

  /** Resolves when nothing is pending (after a kick), or with false after `timeoutMs`. */
  idle(timeoutMs) {
    this.kick();
    if (this.pending === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { resolve, timer: null };
      waiter.timer = setTimeout(() => {
        this._idleWaiters = this._idleWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this._idleWaiters.push(waiter);
    });
  }

  /** Reject every record still queued (not those in flight) with `errorFor(record)`; returns how many. */
  failQueued(errorFor) {
    const dropped = this._queue.splice(0);
    this._queuedBytes = 0;
    this._clearTimer();
    for (const entry of dropped) entry.reject(errorFor(entry.record));
    this._notifyIdle();
    return dropped.length;
  }

  _clearTimer() {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  _startDrain() {
    this._clearTimer();
    this._draining = true;
    this._drain().finally(() => {
      this._draining = false;
      if (this._queue.length) this._startDrain(); // pushed during the last await
      else this._notifyIdle();
    });
  }

  async _drain() {
    while (this._queue.length) {
      const batch = this._takeBatch();
      this._inFlight += batch.length;
      let outcomes;
      try {
        outcomes = await this._send(batch.map((e) => e.record));
      } catch (err) {
        outcomes = batch.map(() => err);
      }
      this._inFlight -= batch.length;
      batch.forEach((entry, i) => {
        const outcome = outcomes[i];
        if (outcome instanceof Error) entry.reject(outcome);
        else entry.resolve(outcome);
      });
    }
  }

  _takeBatch() {
    let count = 0;
    let bytes = 0;
    while (count < this._queue.length && count < this._maxCount) {
      const size = this._queue[count].record.size;
      if (count > 0 && bytes + size > this._maxBytes) break;
      bytes += size;
      count += 1;
    }
    this._queuedBytes -= bytes;
    return this._queue.splice(0, count);
  }

  _notifyIdle() {
    if (this.pending !== 0) return;
    const waiters = this._idleWaiters.splice(0);
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.resolve(true);
    }
  }
}

module.exports = { DeliveryQueue };
