/*
 * cairn.h — the C SDK for Cairn contracts, host ABI version 1.
 *
 * What it is
 *   The declarations of every host function of capabilities/specs/ABI.md (all imported
 *   from wasm module "env"), the ABI's return codes and limits, and small helpers to
 *   decode call arguments and encode return data in the ABI's argument encoding.
 *   Header-only: everything is static or static inline.  A contract is one C file that
 *   includes this header; there is no libc.
 *
 * Naming
 *   The host function `env.NAME` is the C function `cairn_NAME` (storage_get is
 *   cairn_storage_get, abort is cairn_abort, ...), so the ABI's short names (value, call,
 *   input, transfer, abort, random) stay free for your own methods and variables and do
 *   not clash with C library builtins.  Wasm types map as: i32 pointer -> uint8_t *,
 *   i32 length/capacity -> uint32_t, i32 result -> int32_t, i64 -> int64_t.
 *   contracts/build.py reads the CAIRN_HOST(...) declarations below to check that a
 *   built module imports nothing else, with exactly these types.
 *
 * A contract
 *   A method is an exported function of type () -> (); write it with CAIRN_METHOD:
 *
 *       #include "cairn.h"
 *
 *       CAIRN_METHOD(get) {
 *           cairn_no_args();
 *           uint64_t n = 0;
 *           cairn_storage_get_u64(CAIRN_STR("n"), &n);
 *           cairn_return_u64(n);
 *       }
 *
 *   Arguments come from cairn_args() (a reader over the call data: cairn_read_u64,
 *   cairn_read_addr, cairn_read_bytes, ..., then cairn_read_end); return data goes
 *   through a cairn_writer and cairn_return.  Malformed arguments abort with "bad_args".
 *   `init`, if exported, is the constructor; cairn_caller() in init is the deployer.
 *
 * Build (contracts/build.py does this for the samples, reproducibly, and checks imports)
 *
 *   clang --target=wasm32 -Os -ffreestanding -nostdlib -mbulk-memory -I contracts/sdk \
 *         -Wl,--no-entry -Wl,--stack-first -Wl,--strip-all -o my.wasm my.c
 *
 *   Memory is exported as "memory" by wasm-ld's default.  Bulk memory is optional: without
 *   -mbulk-memory this header supplies memcpy/memset/memmove for the copies clang emits.
 *   Do not enable SIMD or threads (-msimd128, -matomics): the chain refuses such modules.
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_ABI_VERSION 1

/* ---------------------------------------------------------------- return codes */

#define CAIRN_NOT_FOUND (-1)            /* no such key / job */
#define CAIRN_NO_RESULT_YET (-2)        /* job exists, no result committed in an earlier block */
#define CAIRN_INSUFFICIENT_BALANCE (-3) /* the contract cannot pay the value / fee */
#define CAIRN_CALL_FAILED (-4)          /* the callee trapped, aborted or ran out of gas */
#define CAIRN_CALL_DEPTH (-5)           /* the call would exceed the call depth limit */

/* ---------------------------------------------------------------- sizes and limits */

#define CAIRN_ADDR_LEN 20
#define CAIRN_HASH_LEN 32
#define CAIRN_U256_LEN 32
#define CAIRN_MAX_KEY 64             /* storage key_len */
#define CAIRN_MAX_VALUE 65536        /* storage val_len */
#define CAIRN_MAX_TOPIC 64           /* emit_event topic_len */
#define CAIRN_MAX_EVENT_DATA 4096    /* emit_event data_len */
#define CAIRN_MAX_OUTPUT 65536       /* output len */
#define CAIRN_MAX_CALL_ARGS 65536    /* call args_len */
#define CAIRN_MAX_ABORT 256          /* abort messages longer than this are cut */
#define CAIRN_RECEIPT_CAP 256        /* out_cap ai_enqueue / quantum_enqueue require */
#define CAIRN_MAX_RANDOM 1024        /* random n */
#define CAIRN_INPUT_CAP (65536 + 4096) /* the static argument buffer of cairn_args() */

/* ---------------------------------------------------------------- declaration helpers */

/* Declares the import env.NAME. */
#define CAIRN_HOST(name) __attribute__((import_module("env"), import_name(name)))

#define CAIRN_NORETURN __attribute__((noreturn))

/* Defines the method NAME: an exported function of type () -> (). */
#define CAIRN_METHOD(name) \
    __attribute__((export_name(#name))) void cairn_method_##name(void); \
    void cairn_method_##name(void)

/* A string literal as a (pointer, length) argument pair, without its NUL:
 * cairn_storage_get(CAIRN_STR("supply"), buf, 8). */
#define CAIRN_STR(lit) (const uint8_t *)("" lit), (uint32_t)(sizeof("" lit) - 1)

/* ---------------------------------------------------------------- host functions (ABI v1) */

/* Call data.  input returns the full length n and writes only if n <= out_cap;
 * output sets the return data (len <= 65536), last call wins. */
CAIRN_HOST("input")
int32_t cairn_input(uint8_t *out, uint32_t out_cap);
CAIRN_HOST("output")
int32_t cairn_output(const uint8_t *data, uint32_t len);

/* Storage: the contract's own keys (key_len <= 64, val_len <= 65536).
 * storage_get returns the value length (written if it fits) or CAIRN_NOT_FOUND;
 * storage_delete returns 0 if a value was removed, CAIRN_NOT_FOUND otherwise. */
CAIRN_HOST("storage_get")
int32_t cairn_storage_get(const uint8_t *key, uint32_t key_len, uint8_t *out, uint32_t out_cap);
CAIRN_HOST("storage_set")
int32_t cairn_storage_set(const uint8_t *key, uint32_t key_len, const uint8_t *val, uint32_t val_len);
CAIRN_HOST("storage_delete")
int32_t cairn_storage_delete(const uint8_t *key, uint32_t key_len);

/* Events: topic_len <= 64, data_len <= 4096; reverted with the call if it fails. */
CAIRN_HOST("emit_event")
int32_t cairn_emit_event(const uint8_t *topic, uint32_t topic_len, const uint8_t *data, uint32_t data_len);

/* Environment: addresses are 20 bytes, amounts u256 big endian in 32 bytes. */
CAIRN_HOST("caller")
int32_t cairn_caller(uint8_t *out20);
CAIRN_HOST("self_address")
int32_t cairn_self_address(uint8_t *out20);
CAIRN_HOST("value")
int32_t cairn_value(uint8_t *out32);
CAIRN_HOST("block_height")
int64_t cairn_block_height(void);
CAIRN_HOST("block_time")
int64_t cairn_block_time(void);
CAIRN_HOST("balance")
int32_t cairn_balance(const uint8_t *addr20, uint8_t *out32);

/* Value: returns 0 or CAIRN_INSUFFICIENT_BALANCE. */
CAIRN_HOST("transfer")
int32_t cairn_transfer(const uint8_t *to20, const uint8_t *amount32);

/* Contract call: returns the callee's return-data length (written if it fits),
 * CAIRN_INSUFFICIENT_BALANCE, CAIRN_CALL_FAILED or CAIRN_CALL_DEPTH. */
CAIRN_HOST("call")
int32_t cairn_call(const uint8_t *addr20, const uint8_t *method, uint32_t method_len, const uint8_t *args,
                   uint32_t args_len, const uint8_t *value32, int64_t gas, uint8_t *out, uint32_t out_cap);

/* AI and quantum jobs: out_cap must be >= CAIRN_RECEIPT_CAP; returns the JobReceipt's
 * length (canonical CBOR) or CAIRN_INSUFFICIENT_BALANCE.  opts_len 0 = no options. */
CAIRN_HOST("ai_enqueue")
int32_t cairn_ai_enqueue(const uint8_t *model, uint32_t model_len, const uint8_t *prompt, uint32_t prompt_len,
                         int64_t max_tokens, const uint8_t *opts, uint32_t opts_len, uint8_t *out,
                         uint32_t out_cap);
CAIRN_HOST("quantum_enqueue")
int32_t cairn_quantum_enqueue(const uint8_t *circuit, uint32_t circuit_len, int64_t shots, const uint8_t *opts,
                              uint32_t opts_len, uint8_t *out, uint32_t out_cap);

/* Returns the ResultRecord's length (CBOR, written if it fits), CAIRN_NOT_FOUND or
 * CAIRN_NO_RESULT_YET. */
CAIRN_HOST("read_result")
int32_t cairn_read_result(const uint8_t *task_id32, uint8_t *out, uint32_t out_cap);

/* Groth16 over BN254, snarkjs JSON inputs (each <= 65536 bytes): 1 valid, 0 invalid. */
CAIRN_HOST("zk_verify")
int32_t cairn_zk_verify(const uint8_t *vk, uint32_t vk_len, const uint8_t *proof, uint32_t proof_len,
                        const uint8_t *inputs, uint32_t inputs_len);

/* n <= 1024 bytes from the previous block's beacon: known to the proposer in advance. */
CAIRN_HOST("random")
int32_t cairn_random(uint8_t *out, uint32_t n);

/* Ends the call, failed, with the message (<= 256 bytes) in the receipt.  Never returns. */
CAIRN_HOST("abort")
CAIRN_NORETURN void cairn_abort(const uint8_t *msg, uint32_t msg_len);

/* ---------------------------------------------------------------- memory */

/* clang lowers struct copies and __builtin_mem* to memory.copy / memory.fill with
 * -mbulk-memory; without it, it calls memcpy/memset/memmove, which there is no libc to
 * provide, so they are defined here ("used" keeps them until the backend emits the calls;
 * "no_builtin" stops clang turning their loops back into calls to themselves). */
#ifndef __wasm_bulk_memory__
__attribute__((used, no_builtin)) static void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    while (n--) *d++ = *s++;
    return dst;
}
__attribute__((used, no_builtin)) static void *memmove(void *dst, const void *src, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        while (n--) d[n] = s[n];
    }
    return dst;
}
__attribute__((used, no_builtin)) static void *memset(void *dst, int c, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}
#endif

static inline void cairn_memcpy(void *dst, const void *src, uint32_t n) { __builtin_memcpy(dst, src, n); }

static inline void cairn_memset(void *dst, uint8_t c, uint32_t n) { __builtin_memset(dst, c, n); }

/* 1 if the n bytes at a and b are equal, else 0. */
static inline int cairn_memeq(const void *a, const void *b, uint32_t n) {
    const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
    uint8_t diff = 0;
    for (uint32_t i = 0; i < n; i++) diff |= (uint8_t)(x[i] ^ y[i]);
    return diff == 0;
}

static inline uint32_t cairn_strlen(const char *s) {
    uint32_t n = 0;
    while (s[n]) n++;
    return n;
}

/* ---------------------------------------------------------------- abort */

/* Aborts with a NUL-terminated message, e.g. cairn_abort_str("insufficient"). */
static inline CAIRN_NORETURN void cairn_abort_str(const char *msg) {
    cairn_abort((const uint8_t *)msg, cairn_strlen(msg));
}

/* ---------------------------------------------------------------- integers */

static inline uint32_t cairn_load_u32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void cairn_store_u32(uint8_t *p, uint32_t v) {
    for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static inline uint64_t cairn_load_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

static inline void cairn_store_u64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

/* u256 (32 bytes, big endian) from a u64. */
static inline void cairn_u256_from_u64(uint8_t *out32, uint64_t v) {
    cairn_memset(out32, 0, 24);
    cairn_store_u64(out32 + 24, v);
}

/* The u64 value of a u256: 1 and *out if it fits, else 0 (*out untouched). */
static inline int cairn_u256_to_u64(const uint8_t *in32, uint64_t *out) {
    for (int i = 0; i < 24; i++)
        if (in32[i]) return 0;
    *out = cairn_load_u64(in32 + 24);
    return 1;
}

static inline int cairn_u256_is_zero(const uint8_t *v32) {
    uint8_t any = 0;
    for (int i = 0; i < 32; i++) any |= v32[i];
    return any == 0;
}

/* ---------------------------------------------------------------- reading arguments */

/* A cursor over argument bytes.  Every read that runs past the end aborts "bad_args". */
typedef struct {
    const uint8_t *data;
    uint32_t len;
    uint32_t pos;
} cairn_reader;

static uint8_t cairn_input_buf[CAIRN_INPUT_CAP];

/* A reader over any bytes (e.g. the return data of cairn_call). */
static inline cairn_reader cairn_reader_on(const uint8_t *data, uint32_t len) {
    cairn_reader r = {data, len, 0};
    return r;
}

/* Fetches this call's arguments into a static buffer and returns a reader over them.
 * Call it once per method; arguments longer than CAIRN_INPUT_CAP abort "args_too_large". */
static inline cairn_reader cairn_args(void) {
    int32_t n = cairn_input(cairn_input_buf, CAIRN_INPUT_CAP);
    if ((uint32_t)n > CAIRN_INPUT_CAP) cairn_abort_str("args_too_large");
    return cairn_reader_on(cairn_input_buf, (uint32_t)n);
}

/* Aborts "bad_args" unless every byte was read. */
static inline void cairn_read_end(const cairn_reader *r) {
    if (r->pos != r->len) cairn_abort_str("bad_args");
}

/* For methods without arguments: aborts "bad_args" if any were given. */
static inline void cairn_no_args(void) {
    if (cairn_input(cairn_input_buf, 0) != 0) cairn_abort_str("bad_args");
}

/* The next n bytes, in place. */
static inline const uint8_t *cairn_read_raw(cairn_reader *r, uint32_t n) {
    if (n > r->len - r->pos) cairn_abort_str("bad_args");
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

static inline uint64_t cairn_read_u64(cairn_reader *r) { return cairn_load_u64(cairn_read_raw(r, 8)); }

static inline void cairn_read_u256(cairn_reader *r, uint8_t *out32) {
    cairn_memcpy(out32, cairn_read_raw(r, CAIRN_U256_LEN), CAIRN_U256_LEN);
}

static inline void cairn_read_addr(cairn_reader *r, uint8_t *out20) {
    cairn_memcpy(out20, cairn_read_raw(r, CAIRN_ADDR_LEN), CAIRN_ADDR_LEN);
}

static inline void cairn_read_hash(cairn_reader *r, uint8_t *out32) {
    cairn_memcpy(out32, cairn_read_raw(r, CAIRN_HASH_LEN), CAIRN_HASH_LEN);
}

/* `bytes`: a u32 big-endian length, then the bytes.  Returns a pointer into the
 * argument buffer (no copy) and sets *len. */
static inline const uint8_t *cairn_read_bytes(cairn_reader *r, uint32_t *len) {
    uint32_t n = cairn_load_u32(cairn_read_raw(r, 4));
    *len = n;
    return cairn_read_raw(r, n);
}

/* `str`: encoded like `bytes`.  Not NUL-terminated and not checked for UTF-8 here; host
 * functions that take text (ai_enqueue, quantum_enqueue) trap "bad_text" on bad UTF-8. */
static inline const uint8_t *cairn_read_str(cairn_reader *r, uint32_t *len) { return cairn_read_bytes(r, len); }

/* ---------------------------------------------------------------- writing return data */

/* Appends fields to a buffer; running out of room aborts "output_too_large". */
typedef struct {
    uint8_t *buf;
    uint32_t cap;
    uint32_t len;
} cairn_writer;

static uint8_t cairn_output_buf[CAIRN_MAX_OUTPUT];

/* A writer over a buffer of your own (e.g. event data). */
static inline cairn_writer cairn_writer_on(uint8_t *buf, uint32_t cap) {
    cairn_writer w = {buf, cap, 0};
    return w;
}

/* A writer over the static return-data buffer (CAIRN_MAX_OUTPUT bytes). */
static inline cairn_writer cairn_output_writer(void) { return cairn_writer_on(cairn_output_buf, CAIRN_MAX_OUTPUT); }

/* Room for the next n bytes; the caller fills them. */
static inline uint8_t *cairn_write_raw(cairn_writer *w, uint32_t n) {
    if (n > w->cap - w->len) cairn_abort_str("output_too_large");
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

static inline void cairn_write_u64(cairn_writer *w, uint64_t v) { cairn_store_u64(cairn_write_raw(w, 8), v); }

static inline void cairn_write_u256(cairn_writer *w, const uint8_t *v32) {
    cairn_memcpy(cairn_write_raw(w, CAIRN_U256_LEN), v32, CAIRN_U256_LEN);
}

static inline void cairn_write_addr(cairn_writer *w, const uint8_t *a20) {
    cairn_memcpy(cairn_write_raw(w, CAIRN_ADDR_LEN), a20, CAIRN_ADDR_LEN);
}

static inline void cairn_write_hash(cairn_writer *w, const uint8_t *h32) {
    cairn_memcpy(cairn_write_raw(w, CAIRN_HASH_LEN), h32, CAIRN_HASH_LEN);
}

/* `bytes` / `str`: a u32 big-endian length, then the bytes. */
static inline void cairn_write_bytes(cairn_writer *w, const uint8_t *p, uint32_t n) {
    cairn_store_u32(cairn_write_raw(w, 4), n);
    cairn_memcpy(cairn_write_raw(w, n), p, n);
}

static inline void cairn_write_str(cairn_writer *w, const uint8_t *p, uint32_t n) { cairn_write_bytes(w, p, n); }

/* Sets what the writer holds as the call's return data. */
static inline void cairn_return(const cairn_writer *w) { cairn_output(w->buf, w->len); }

/* Returns one u64. */
static inline void cairn_return_u64(uint64_t v) {
    uint8_t b[8];
    cairn_store_u64(b, v);
    cairn_output(b, 8);
}

/* ---------------------------------------------------------------- storage of u64 */

/* Reads the u64 (8 bytes, big endian) at key into *out: 1 if present, 0 if absent
 * (*out = 0).  A value of another length aborts "bad_state". */
static inline int cairn_storage_get_u64(const uint8_t *key, uint32_t key_len, uint64_t *out) {
    uint8_t b[8];
    int32_t n = cairn_storage_get(key, key_len, b, 8);
    if (n == CAIRN_NOT_FOUND) {
        *out = 0;
        return 0;
    }
    if (n != 8) cairn_abort_str("bad_state");
    *out = cairn_load_u64(b);
    return 1;
}

static inline void cairn_storage_set_u64(const uint8_t *key, uint32_t key_len, uint64_t v) {
    uint8_t b[8];
    cairn_store_u64(b, v);
    cairn_storage_set(key, key_len, b, 8);
}

#endif /* CAIRN_H */
