'use strict';
/**
 * JSON writer for event values, byte-identical to the Python library's encoder (msgspec).
 *
 * JavaScript has one number type, Python two: a field the schema types as `number` is a float in
 * Python and is written `25.0`, where JSON.stringify writes `25`. A consumer that looks at JSON
 * types (or compares bytes) must not see which library produced an event, so this writer follows
 * the schema:
 * - `number` fields: the shortest digits that round-trip (as both runtimes compute them), in fixed
 *   notation with a fraction when the decimal exponent is in [-5, 16), else `1.25e16` / `1e-7`
 *   (no `+`, no padding), `-0.0` for negative zero; `integer` fields: plain digits.
 * - objects with `properties` are written in the schema's property order (the wire order: envelope
 *   first, then the type's fields), skipping absent (undefined) values; maps keep insertion order.
 * - strings, booleans and null as JSON.stringify writes them (the same escapes as msgspec: \uXXXX
 *   for controls except \b \t \n \f \r, everything else as raw UTF-8).
 *
 * Writers are compiled once per schema. Values must already be valid for the schema (finite
 * numbers, well-formed strings): validation runs first.
 */

/** A float as Python/msgspec writes it. */
function formatFloat(x) {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa, exponent] = Math.abs(x).toExponential().split('e');
  const exp = Number(exponent);
  const digits = mantissa.replace('.', '');
  if (exp >= 16 || exp < -5) {
    return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ''}e${exp}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const whole = exp + 1;
  if (digits.length <= whole) return `${sign}${digits.padEnd(whole, '0')}.0`;
  return `${sign}${digits.slice(0, whole)}.${digits.slice(whole)}`;
}

function resolve(schema, root) {
  if (schema && typeof schema.$ref === 'string' && schema.$ref.startsWith('#/$defs/')) {
    return root.$defs[schema.$ref.slice('#/$defs/'.length)];
  }
  return schema;
}

/** Compile a writer `(value) => string` for `schema` (refs resolved against `root`). */
function compileWriter(schema, root = schema) {
  const s = resolve(schema, root) || {};
  if (s.type === 'number') {
    return (v) => (typeof v === 'number' ? formatFloat(v) : JSON.stringify(v));
  }
  if (s.type === 'array') {
    const item = compileWriter(s.items, root);
    return (v) => (Array.isArray(v) ? `[${v.map(item).join(',')}]` : JSON.stringify(v));
  }
  if (s.type === 'object' && s.properties) {
    const fields = Object.entries(s.properties).map(([name, sub]) => [name, JSON.stringify(name), compileWriter(sub, root)]);
    return (v) => {
      if (v === null || typeof v !== 'object') return JSON.stringify(v);
      const parts = [];
      for (const [name, quoted, write] of fields) {
        if (v[name] !== undefined) parts.push(`${quoted}:${write(v[name])}`);
      }
      return `{${parts.join(',')}}`;
    };
  }
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') {
    const value = compileWriter(s.additionalProperties, root);
    return (v) => {
      if (v === null || typeof v !== 'object') return JSON.stringify(v);
      return `{${Object.keys(v).map((k) => `${JSON.stringify(k)}:${value(v[k])}`).join(',')}}`;
    };
  }
  return (v) => JSON.stringify(v);
}

module.exports = { formatFloat, compileWriter };
