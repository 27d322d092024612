"""The capability ABI's data layer: task ids, requests, job receipts, result records, gas.

Pure: no clock, randomness or I/O; integers only.  The host functions that use it
are specified in ``capabilities/specs/ABI.md`` and wired into ``chain.vm`` later.
"""
