/* Generated from layout.py by `python -m carbonplane.gateway.plugins.pdk._native.layout`:
 * edit layout.py, not this file (a test compares them). */
#ifndef CARBONPLANE_PLUGINS_LAYOUT_H
#define CARBONPLANE_PLUGINS_LAYOUT_H
#define COUNTERS_MAGIC "CPCTRS01"
#define HEADER_SIZE 64
#define KEY_SIZE 16
#define VALUE_SIZE 16
#define PROBE 16
#define MAX_CELLS 16
#define WORKSPACE_ID "00000000-0000-0000-0000-000000000000"
#endif
